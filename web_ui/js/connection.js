// The team server connection as the window shows it: a banner while the desktop is offline
// or reconnecting (with the replies waiting to go up), nothing when online or on its own.

import { api } from "./api.js";
import { $ } from "./dom.js";

/** The banner's line for a ConnectionView, or "" when there is nothing to say. */
export function connectionText(c) {
  if (!c || c.mode !== "team") return "";
  // Replies only: a read mark waiting beside them is no reply.
  const n = Number(c.pending_replies ?? c.pending) || 0;
  const waiting = n ? ` — ${n} ${n === 1 ? "reply" : "replies"} waiting` : "";
  if (c.state === "offline") return `Offline${waiting}`;
  if (c.state === "connecting") return `Reconnecting…${waiting}`;
  return "";
}

export class ConnectionBanner {
  constructor() {
    this.el = $("#connection");
    this.view = null;
  }

  /** Ask the agent; a desktop without team mode (no such route) shows nothing. */
  async load() {
    try {
      this.apply(await api.connection());
    } catch (err) {
      if (err.status !== 404) throw err;
      this.apply(null);
    }
  }

  apply(view) {
    this.view = view;
    const text = connectionText(view);
    this.el.textContent = text;
    this.el.title = view && view.last_error && text ? view.last_error : "";
    this.el.dataset.state = view ? view.state : "local";
    this.el.hidden = !text;
    document.body.classList.toggle("team-offline", Boolean(text));
  }
}
