// One line at the bottom of the window: errors and confirmations, as text only.

import { $ } from "./dom.js";

let timer = 0;

export function toast(message, kind = "info") {
  const el = $("#toast");
  el.textContent = message;
  el.dataset.kind = kind;
  el.hidden = false;
  clearTimeout(timer);
  timer = setTimeout(() => (el.hidden = true), kind === "error" ? 8000 : 4000);
}

export const fail = (err) => toast(err && err.message ? err.message : String(err), "error");
