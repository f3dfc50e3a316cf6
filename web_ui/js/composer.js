// The reply box: text with emoji, files by picker or drag-and-drop uploaded with a
// progress bar, and the channel's limits checked before a byte is sent.

import { api, upload } from "./api.js";
import { $, h } from "./dom.js";
import { bytes, fileLabel } from "./format.js";
import { emojiPicker } from "./emoji.js";
import { fail, toast } from "./toast.js";

export class Composer {
  /** @param {{onSent: (message) => void, onRefused: (err) => void}} hooks */
  constructor(hooks) {
    this.hooks = hooks;
    this.el = $("#composer");
    this.text = $("#composer-text");
    this.fileInput = $("#file-input");
    this.pendingList = $("#pending");
    this.detail = null;
    this.pending = [];
    this.drafts = new Map();
    this.sending = false;
    $("#attach").addEventListener("click", () => this.fileInput.click());
    this.fileInput.addEventListener("change", () => {
      this.addFiles(this.fileInput.files);
      this.fileInput.value = "";
    });
    $("#send").addEventListener("click", () => this.send());
    this.text.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        this.send();
      }
    });
    this.text.addEventListener("input", () => this.autosize());
    emojiPicker($("#emoji-btn"), $("#emoji-panel"), this.text);
    this.wireDrop($("#conversation-pane"));
  }

  /** A conversation was opened: its draft comes back, the other one's files are dropped. */
  open(detail) {
    if (this.detail) this.drafts.set(this.detail.id, this.text.value);
    for (const p of this.pending) p.abort && p.abort();
    this.pending = [];
    this.renderPending();
    this.detail = detail;
    this.text.value = this.drafts.get(detail.id) || "";
    this.autosize();
    this.apply(detail);
  }

  /** The conversation's state changed: lock or unlock, new limits. */
  apply(detail) {
    this.detail = detail;
    const { can_reply: canReply, reason } = detail.composer;
    this.el.classList.toggle("locked", !canReply);
    $("#composer-lock").textContent = canReply ? "" : (reason || "Replies are not possible here.");
    $("#composer-lock").hidden = canReply;
    for (const el of [this.text, $("#attach"), $("#emoji-btn"), $("#send")]) el.disabled = !canReply;
    this.text.placeholder = canReply ? `Message via ${detail.channel_label}` : reason || "";
  }

  focus() {
    if (!this.text.disabled) this.text.focus();
  }

  autosize() {
    this.text.style.height = "auto";
    this.text.style.height = `${Math.min(this.text.scrollHeight, 160)}px`;
  }

  wireDrop(zone) {
    let depth = 0;
    const overlay = $("#drop-overlay");
    const hasFiles = (e) => Array.from(e.dataTransfer?.types || []).includes("Files");
    zone.addEventListener("dragenter", (e) => {
      if (!hasFiles(e) || !this.detail) return;
      depth++;
      overlay.hidden = false;
    });
    zone.addEventListener("dragleave", () => {
      depth = Math.max(0, depth - 1);
      if (!depth) overlay.hidden = true;
    });
    zone.addEventListener("dragover", (e) => hasFiles(e) && e.preventDefault());
    zone.addEventListener("drop", (e) => {
      if (!hasFiles(e)) return;
      e.preventDefault();
      depth = 0;
      overlay.hidden = true;
      if (this.text.disabled) toast($("#composer-lock").textContent, "error");
      else this.addFiles(e.dataTransfer.files);
    });
  }

  /** Why the channel cannot take ``file`` (null if it can), and whether it goes as a link. */
  check(file) {
    const d = this.detail;
    const max = d.composer.max_file_bytes;
    if (file.size === 0) return { error: `${file.name} is empty.` };
    if (file.size > max) {
      return { error: `${file.name} is ${bytes(file.size)}; ${d.channel_label} takes files up to ${bytes(max)}. It was not uploaded.` };
    }
    const native = nativeLimit(d.rules.native_file_limits || {}, file.type || "");
    if (native !== null && file.size > native) {
      if (!d.rules.files_as_links) {
        return { error: `${d.channel_label} takes ${file.type || "such"} files up to ${bytes(native)}; ${file.name} is ${bytes(file.size)}. It was not uploaded.` };
      }
      return { asLink: true };
    }
    return {};
  }

  addFiles(fileList) {
    for (const file of Array.from(fileList)) {
      const verdict = this.check(file);
      if (verdict.error) {
        toast(verdict.error, "error");
        continue;
      }
      const item = { file, progress: 0, uploadId: null, error: null, asLink: Boolean(verdict.asLink) };
      const { promise, abort } = upload(file, { conversationId: this.detail.id }, (f) => {
        item.progress = f;
        this.renderPending();
      });
      item.abort = abort;
      item.done = promise.then((u) => {
        item.uploadId = u.upload_id;
        item.progress = 1;
      }, (err) => {
        item.error = err.message;
      }).finally(() => this.renderPending());
      this.pending.push(item);
    }
    this.renderPending();
  }

  renderPending() {
    this.pendingList.replaceChildren(...this.pending.map((p) => h("li.pending-file", { dataset: { state: p.error ? "error" : p.uploadId ? "ready" : "uploading" } },
      h("bdi.file-name", fileLabel(p.file.name)),
      h("span.file-size", ` ${bytes(p.file.size)}`),
      p.error ? h("span.pending-error", p.error)
        : p.uploadId ? h("span.pending-ready", p.asLink ? "✓ ready · goes as a download link" : "✓ ready")
          : h("progress", { max: 1, value: p.progress, "aria-label": `Uploading ${p.file.name}` }),
      h("button.remove", { type: "button", title: "Remove", "aria-label": `Remove ${p.file.name}`,
        onclick: () => this.removePending(p) }, "✕"))));
    this.pendingList.hidden = !this.pending.length;
  }

  removePending(p) {
    p.abort && p.abort();
    this.pending = this.pending.filter((x) => x !== p);
    this.renderPending();
  }

  async send() {
    const text = this.text.value.trim();
    if (this.sending || !this.detail || this.text.disabled || (!text && !this.pending.length)) return;
    this.sending = true;
    const detail = this.detail;
    try {
      await Promise.all(this.pending.map((p) => p.done));
      const broken = this.pending.find((p) => p.error);
      if (broken) throw new Error(`${broken.file.name}: ${broken.error} Remove it to send the rest.`);
      const message = await api.reply(detail.id, text, this.pending.map((p) => p.uploadId));
      if (this.detail === detail) {
        this.text.value = "";
        this.drafts.delete(detail.id);
        this.pending = [];
        this.renderPending();
        this.autosize();
      }
      this.hooks.onSent(message);
    } catch (err) {
      fail(err);
      if (err.status === 409) this.hooks.onRefused(err);
    } finally {
      this.sending = false;
    }
  }
}

/** The most specific native limit for a MIME type ("image/png" before "image/" before ""). */
export function nativeLimit(limits, mime) {
  let best = null;
  for (const [prefix, limit] of Object.entries(limits)) {
    if (mime.startsWith(prefix) && (best === null || prefix.length > best[0])) best = [prefix.length, limit];
  }
  return best === null ? null : best[1];
}
