// Keyboard shortcuts for the frequent actions, and the help overlay that lists them.

import { h, typingIn } from "./dom.js";
import { closeDialog, dialogOpen, openDialog } from "./dialogs.js";

/** [keys shown, description, key test, action name] */
export const SHORTCUTS = [
  ["/", "Search messages", (e) => e.key === "/", "search"],
  ["j  or  Alt+↓", "Next conversation", (e) => e.key === "j" || (e.altKey && e.key === "ArrowDown"), "next"],
  ["k  or  Alt+↑", "Previous conversation", (e) => e.key === "k" || (e.altKey && e.key === "ArrowUp"), "prev"],
  ["r", "Write a reply", (e) => e.key === "r", "reply"],
  ["Enter", "Send (Shift+Enter: new line)", () => false, null],
  ["a", "Take over a queued conversation", (e) => e.key === "a", "claim"],
  ["t", "Transfer", (e) => e.key === "t", "transfer"],
  ["e", "Archive / unarchive", (e) => e.key === "e", "archive"],
  ["x", "Close / reopen", (e) => e.key === "x", "close"],
  ["u", "Mark unread", (e) => e.key === "u", "unread"],
  ["c", "Call the customer (asks first)", (e) => e.key === "c", "call"],
  ["s", "Save as contact", (e) => e.key === "s", "contact"],
  ["n", "New conversation", (e) => e.key === "n", "new"],
  ["1 … 5", "All, Unread, Mine, Unassigned, Archived", (e) => /^[1-5]$/.test(e.key), "filter"],
  [",", "Settings", (e) => e.key === ",", "settings"],
  ["?", "This help", (e) => e.key === "?", "help"],
  ["Esc", "Close a dialog, clear the search, back to the list", (e) => e.key === "Escape", "escape"],
];

/** Route key presses to ``actions[name](event)``; single keys only outside text fields. */
export function installShortcuts(actions) {
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape") {
      if (closeDialog()) return;
      actions.escape(e);
      return;
    }
    if (dialogOpen() || e.ctrlKey || e.metaKey || e.isComposing) return;
    if (typingIn(e.target) && !e.altKey) return;
    for (const [, , test, name] of SHORTCUTS) {
      if (name && name !== "escape" && test(e)) {
        e.preventDefault();
        actions[name](e);
        return;
      }
    }
  });
}

export function helpOverlay() {
  openDialog({ id: "help-dialog", title: "Keyboard shortcuts",
    body: h("table.shortcuts", h("tbody", SHORTCUTS.map(([keys, what]) =>
      h("tr", h("td", h("kbd", keys)), h("td", what))))) });
}
