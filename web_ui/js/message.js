// One message of the history as DOM: a customer's or an agent's bubble with its files
// and delivery status, or a system line (transfer, call, closed, reopened).

import { attachmentUrl, channelIconUrl } from "./api.js";
import { h } from "./dom.js";
import { bytes, clockTime, dayLabel, fileLabel, fullWhen } from "./format.js";
import { linkify } from "./linkify.js";

const STATUS = {
  queued: ["◷", "Pending"],
  sending: ["◷", "Sending…"],
  sent: ["✓", "Sent"],
  delivered: ["✓✓", "Delivered"],
  read: ["✓✓", "Read"],
  failed: ["⚠", "Failed"],
};
const SYSTEM_ICON = { transfer: "transfer", call: "phone", closed: "close", reopened: "reopen", contact: "contact",
  picked_up: "claim" };
/** Refusals by the server's or the channel's rules: sending again cannot help. */
const RULE_REFUSALS = new Set(["already_taken", "not_owner", "conversation_closed", "reply_window_closed",
  "pickup_disabled", "not_found"]);

/** The lifecycle step a system row records, named as Linkus's timeline names them. */
export function systemLabel(m) {
  const meta = m.meta || {};
  if (m.kind === "picked_up") return "Picked up";
  if (m.kind === "transfer") return meta.to_queue_id ? "Transferred to a queue" : "Transferred";
  if (m.kind === "closed") return m.sender_agent_id ? "Closed" : "Closed automatically";
  if (m.kind === "reopened") return "Reopened";
  return "";
}
const THUMB_TYPES = new Set(["image/png", "image/jpeg", "image/gif", "image/webp"]);

/**
 * @param m  MessageView
 * @param prev  the message before it in the history (undefined at the start)
 * @param ctx  {openId, complete, onRetry(message), segments, mixed, firstIds} (see History.ctx)
 */
export function renderMessage(m, prev, ctx) {
  const item = h("div.item", { dataset: { id: m.id, conversation: m.conversation_id } });
  if (!prev && ctx.complete) item.append(h("div.divider.start", "Start of the history with this customer"));
  // Each conversation is labelled once, where its messages begin (not at every switch
  // between two that ran at the same time); the open one only if others precede it.
  if (ctx.firstIds.get(m.conversation_id) === m.id && (prev || m.conversation_id !== ctx.openId)) {
    item.append(segmentDivider(m, ctx));
  }
  if (!prev || new Date(prev.created_at).toDateString() !== new Date(m.created_at).toDateString()) {
    item.append(h("div.divider.day", dayLabel(m.created_at)));
  }
  item.append(m.direction === "system" ? systemLine(m) : bubble(m, ctx));
  return item;
}

function segmentDivider(m, ctx) {
  const seg = ctx.segments.get(m.conversation_id);
  return h("div.divider.conversation",
    seg ? h("img.divider-icon", { src: channelIconUrl(seg.channel_id), alt: "", width: 14, height: 14 }) : null,
    seg ? seg.label : `Conversation #${m.conversation_id}`);
}

function systemLine(m) {
  // A transfer's text ends with its note; the note is shown on its own, as a quote.
  const note = m.kind === "transfer" && m.meta && m.meta.note ? m.meta.note : "";
  const text = note && m.text.endsWith(`: ${note}`) ? m.text.slice(0, -note.length - 2) : m.text;
  const call = m.kind === "call" ? callState(m.meta || {}) : null;
  const label = systemLabel(m);
  return h(`div.msg.system.kind-${cssName(m.kind)}${call ? `.${call.css}` : ""}`,
    { title: fullWhen(m.created_at), role: call && call.css === "call-failed" ? "note" : null,
      dataset: { step: label ? cssName(label.toLowerCase().replace(/ /g, "-")) : cssName(m.kind) } },
    h(`span.i.i-${SYSTEM_ICON[m.kind] || "unread"}`, { "aria-hidden": "true" }),
    call ? h("strong.call-state", call.label) : null,
    label ? h("strong.system-label", label) : null,
    h("span.text", { dir: "auto" }, text),
    call && call.more ? h("span.call-more", { dir: "auto" }, call.more) : null,
    note ? h("q.note", { dir: "auto" }, note) : null,
    h("time", { dateTime: m.created_at }, clockTime(m.created_at)));
}

/** A call row says whether it started (and what the handler knows since) or failed. */
function callState(meta) {
  const via = meta.handler_label ? `via ${meta.handler_label}` : meta.handler ? `via ${meta.handler}` : "";
  if (meta.started === false) return { css: "call-failed", label: "Call failed", more: via };
  return { css: "call-started", label: "Call started",
    more: [meta.outcome, via].filter(Boolean).join(" · ") };
}

function bubble(m, ctx) {
  const asLinks = new Set((m.meta && m.meta.as_link) || []);
  const files = m.attachments.length
    ? h("ul.files", m.attachments.map((a) => fileItem(a, asLinks.has(a.id)))) : null;
  return h(`div.msg.${m.direction === "out" ? "out" : "in"}`,
    h("div.bubble", m.text ? h("div.text", { dir: "auto" }, linkify(m.text)) : null, files),
    h("div.meta",
      ctx.mixed && ctx.segments.get(m.conversation_id)
        ? h("span.via", ctx.segments.get(m.conversation_id).channel_label) : null,
      m.direction === "out" && m.sender_name ? h("bdi.who", m.sender_name) : null,
      h("time", { dateTime: m.created_at, title: fullWhen(m.created_at) }, clockTime(m.created_at)),
      m.status ? status(m) : null),
    m.status === "failed" ? failure(m, ctx) : null);
}

function status(m) {
  const [icon, label] = STATUS[m.status] || ["", m.status];
  // A reason explains a message still waiting or failed, never one that went through.
  const pending = m.status === "failed" || m.status === "queued" || m.status === "sending";
  return h(`span.status.status-${cssName(m.status)}`, { title: (pending && m.status_reason) || label },
    h("span.status-icon", { "aria-hidden": "true" }, icon), label);
}

function failure(m, ctx) {
  // A refusal says what the server (or the channel) said; the code decides if a retry could help.
  const refused = RULE_REFUSALS.has(m.error_code);
  return h(`div.failure${refused ? ".refused" : ""}`, { role: "note", dataset: { code: m.error_code || "" } },
    h("span.reason", { dir: "auto" }, m.status_reason || "The message could not be delivered."),
    m.can_retry && !refused ? h("button.retry", { type: "button", onclick: () => ctx.onRetry(m) }, "Retry") : null);
}

function fileItem(a, asLink) {
  if (a.expired) {
    return h("li.file.expired", { title: "Files are kept for a limited time" },
      h("span.i.i-attach", { "aria-hidden": "true" }), " ", h("bdi.file-name", fileLabel(a.file_name)),
      h("span.file-note", " — file expired"));
  }
  const url = attachmentUrl(a.id);
  return h("li.file",
    THUMB_TYPES.has(a.mime_type)
      ? h("a.thumb-link", { href: url, download: a.file_name, tabIndex: -1 },
        h("img.thumb", { src: attachmentUrl(a.id, true), alt: a.file_name, width: 160, height: 120, loading: "lazy" }))
      : null,
    h("a.file-link", { href: url, download: a.file_name, title: fileLabel(a.file_name) },
      h("span.i.i-attach", { "aria-hidden": "true" }), " ", h("bdi.file-name", fileLabel(a.file_name))),
    h("span.file-size", ` ${bytes(a.size)}`),
    asLink ? h("span.file-note", " · sent as a download link") : null);
}

const cssName = (s) => String(s).replace(/[^a-z0-9_-]/gi, "_");
