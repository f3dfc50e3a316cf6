// Times, sizes and durations as people read them; "now" is the server's clock.

import { serverNow } from "./state.js";
import { inert } from "./text.js";

const pad = (n) => String(n).padStart(2, "0");

export function clockTime(iso) {
  const d = new Date(iso);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** Days from today (server's clock) to the calendar day of ``d``: 0 today, 1 tomorrow, -1 yesterday. */
function daysFromToday(d) {
  const now = new Date(serverNow());
  const day = (x) => Date.UTC(x.getFullYear(), x.getMonth(), x.getDate());
  return Math.round((day(d) - day(now)) / 86400000);
}

/** Day and month, with the year when it is not this one. */
function dayMonth(d, extra = {}) {
  const opts = { day: "numeric", month: "short", ...extra };
  if (d.getFullYear() !== new Date(serverNow()).getFullYear()) opts.year = "numeric";
  return d.toLocaleDateString(undefined, opts);
}

/** A time to come, with its day when that is not today: 08:09, tomorrow 08:09, Thu 12 Mar 08:09. */
export function dayTime(iso, today = "") {
  const d = new Date(iso);
  const days = daysFromToday(d);
  if (days === 0) return today + clockTime(iso);
  if (days === 1) return `tomorrow ${clockTime(iso)}`;
  return `${dayMonth(d, { weekday: "short" })} ${clockTime(iso)}`;
}

/** A day in words: today, yesterday, 3 Mar, 3 Mar 2024. */
export function dayWord(iso) {
  const d = new Date(iso);
  const days = daysFromToday(d);
  return days === 0 ? "today" : days === -1 ? "yesterday" : dayMonth(d);
}

/** Today: 14:05; this week: Tue; this year: 3 Mar; else 3 Mar 2024. */
export function shortWhen(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  if (daysFromToday(d) === 0) return clockTime(iso);
  const days = (serverNow() - d) / 86400000;
  if (days < 6 && days > 0) return d.toLocaleDateString(undefined, { weekday: "short" });
  return dayMonth(d);
}

export function dayLabel(iso) {
  const d = new Date(iso);
  const days = daysFromToday(d);
  if (days === 0) return "Today";
  if (days === -1) return "Yesterday";
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
