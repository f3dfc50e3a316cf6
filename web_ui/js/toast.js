// One line at the bottom of the window: errors and confirmations, as text only, with
// at most one action (Undo) for what a single key did at once.

import { $, h } from "./dom.js";

let timer = 0;

/** @param {{label: string, run: () => void}|null} action  a button in the toast */
export function toast(message, kind = "info", action = null) {
  const el = $("#toast");
  el.replaceChildren(message);
  if (action) {
    el.append(" ", h("button.toast-action", { type: "button", onclick: () => {
      el.hidden = true;
      action.run();
    } }, action.label));
  }
  el.dataset.kind = kind;
  el.hidden = false;
  clearTimeout(timer);
  timer = setTimeout(() => (el.hidden = true), kind === "error" || action ? 8000 : 4000);
}

export const fail = (err) => toast(err && err.message ? err.message : String(err), "error");
