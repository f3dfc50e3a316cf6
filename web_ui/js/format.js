// Times, sizes and durations as people read them; "now" is the server's clock.

import { serverNow } from "./state.js";
import { inert } from "./text.js";

const pad = (n) => String(n).padStart(2, "0");

export function clockTime(iso) {
  const d = new Date(iso);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** Today: 14:05; this week: Tue; this year: 3 Mar; else 3 Mar 2024. */
export function shortWhen(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  const now = new Date(serverNow());
  if (d.toDateString() === now.toDateString()) return clockTime(iso);
  const days = (now - d) / 86400000;
  if (days < 6 && days > 0) return d.toLocaleDateString(undefined, { weekday: "short" });
  const opts = { day: "numeric", month: "short" };
  if (d.getFullYear() !== now.getFullYear()) opts.year = "numeric";
  return d.toLocaleDateString(undefined, opts);
}

export function dayLabel(iso) {
  const d = new Date(iso);
  const now = new Date(serverNow());
  if (d.toDateString() === now.toDateString()) return "Today";
  const y = new Date(now);
  y.setDate(now.getDate() - 1);
  if (d.toDateString() === y.toDateString()) return "Yesterday";
  return d.toLocaleDateString(undefined, { weekday: "long", day: "numeric", month: "long", year: "numeric" });
}

export function fullWhen(iso) {
  return iso ? new Date(iso).toLocaleString() : "";
}

export function bytes(n) {
  if (n < 1000) return `${n} B`;
  if (n < 1e6) return `${(n / 1e3).toFixed(n < 1e4 ? 1 : 0)} kB`;
  if (n < 1e9) return `${(n / 1e6).toFixed(n < 1e7 ? 1 : 0)} MB`;
  return `${(n / 1e9).toFixed(1)} GB`;
}

/** 5 h 12 min, 40 min, 30 s */
export function duration(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min`;
  const hrs = Math.floor(m / 60);
  if (hrs < 48) return m % 60 ? `${hrs} h ${m % 60} min` : `${hrs} h`;
  return `${Math.floor(hrs / 24)} days`;
}

export function displayName(conv) {
  return inert(conv.contact_name || conv.customer_name || conv.customer_display || conv.customer_address);
}

export { fileLabel } from "./text.js";
