// A small emoji picker: a grid of common emoji inserted at the caret.

import { h } from "./dom.js";

const EMOJI = ("😀 😃 😄 😁 😅 😂 🙂 😉 😊 😍 😘 😎 🤔 😐 😴 😢 😭 😡 👍 👎 👌 👏 🙏 💪 👋 🤝 ✌️ " +
  "❤️ 💔 ⭐ 🔥 🎉 ✅ ❌ ⚠️ ❓ 💡 📞 📎 📷 📦 🚚 💳 🧾 ⏰ 📅 🏠 ☕").split(" ");

/** Wire ``button`` to toggle ``panel`` and insert the chosen emoji into ``textarea``. */
export function emojiPicker(button, panel, textarea) {
  panel.replaceChildren(...EMOJI.map((e) => h("button.emoji", { type: "button", title: e, dataset: { emoji: e } }, e)));
  const close = () => {
    panel.hidden = true;
    button.setAttribute("aria-expanded", "false");
  };
  button.addEventListener("click", () => {
    panel.hidden = !panel.hidden;
    button.setAttribute("aria-expanded", String(!panel.hidden));
  });
  panel.addEventListener("click", (e) => {
    const b = e.target.closest("button.emoji");
    if (!b) return;
    const start = textarea.selectionStart ?? textarea.value.length;
    const end = textarea.selectionEnd ?? start;
    textarea.setRangeText(b.dataset.emoji, start, end, "end");
    textarea.dispatchEvent(new Event("input"));
    textarea.focus();
    close();
  });
  panel.addEventListener("keydown", (e) => e.key === "Escape" && (close(), textarea.focus()));
  document.addEventListener("click", (e) => {
    if (!panel.hidden && !panel.contains(e.target) && !button.contains(e.target)) close();
  });
}
