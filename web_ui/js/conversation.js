// The open conversation: who it is with, what the channel's rules allow right now
// (reply window left, queue, lock reason), the actions, the history and the composer.

import { api, channelIconUrl } from "./api.js";
import { $, $$, h, fill } from "./dom.js";
import { bytes, dayTime, dayWord, displayName, duration } from "./format.js";
import { Composer } from "./composer.js";
import { callDialog, contactDialog, transferDialog } from "./dialogs.js";
import { History, PAGE } from "./history.js";
import { alsoSeenBy, agentName, channelById, presenceOf, serverNow, state } from "./state.js";
import { fail, toast } from "./toast.js";

const WARN_MS = 2 * 3600 * 1000;

/** What each conversation in the history is, told truthfully: earlier, also open or later. */
export function segmentsOf(d) {
  const segs = new Map([[d.id, { label: `This conversation · ${d.channel_label}`, channel_id: d.channel_id,
    channel_label: d.channel_label }]]);
  for (const r of d.related || []) {
    const what = r.status === "open" ? "Also open" : r.id < d.id ? "Earlier conversation" : "Later conversation";
    const closed = r.status !== "open" && r.id > d.id ? ", closed" : "";
    segs.set(r.id, { label: `${what} #${r.id} · ${r.channel_label} · started ${dayWord(r.started_at)}${closed}`,
      channel_id: r.channel_id, channel_label: r.channel_label });
  }
  return segs;
}

/** The colleague who took the conversation first, from a refusal (409 already_taken). */
export function takenBy(err) {
  if (!err || err.status !== 409) return "";
  const body = err.body || {};
  if (body.owner_name) return body.owner_name;
  if (body.error === "already_taken" || body.owner_id) return agentName(body.owner_id, "a colleague");
  return "";
}

export class ConversationView {
  /** @param {{onChanged: (view) => void, onGone: (id) => void}} hooks */
  constructor(hooks) {
    this.hooks = hooks;
    this.detail = null;
    this.gen = 0;
    this.history = new History((m) => this.retry(m));
    this.composer = new Composer({
      onSent: (m) => this.history.merge([m]),
      onRefused: (err) => (takenBy(err) ? this.leave(`Taken over by ${takenBy(err)}.`) : this.refresh()),
    });
    for (const b of $$("#conv-actions [data-action]")) b.addEventListener("click", () => this.act(b.dataset.action));
    $("#claim-btn").addEventListener("click", () => this.act("claim"));
    $("#gone-back").addEventListener("click", () => this.hooks.onGone(this.id));
    setInterval(() => this.tick(), 15000);
  }

  get id() {
    return this.detail ? this.detail.id : null;
  }

  async open(id) {
    const gen = ++this.gen;
    state.openId = id;
    $("#conv-empty").hidden = true;
    $("#conv").hidden = false;
    let detail;
    let page;
    try {
      [detail, page] = await Promise.all([api.conversation(id), api.history(id, { limit: PAGE })]);
    } catch (err) {
      if (gen === this.gen) {
        fail(err);
        this.hooks.onGone(id);
      }
      return null;
    }
    if (gen !== this.gen) return null; // another conversation was opened meanwhile
    this.detail = detail;
    this.goneText = "";
    this.render();
    this.composer.open(detail);
    this.history.setSegments(segmentsOf(detail));
    this.history.show(id, page);
    requestAnimationFrame(() => performance.mark("tray:conversation-painted"));
    return detail;
  }

  close() {
    this.gen++;
    this.detail = null;
    this.goneText = "";
    state.openId = null;
    $("#conv").hidden = true;
    $("#conv-empty").hidden = false;
  }

  /** Newer state of the open conversation (from an event or an action). */
  apply(detail) {
    if (!this.detail || detail.id !== this.detail.id || this.goneText) return;
    this.detail = detail;
    this.render();
    this.composer.apply(detail);
    // Saved to a contact (or merged with one): the history now holds other conversations.
    if (this.history.setSegments(segmentsOf(detail))) this.reloadHistory();
  }

  async reloadHistory() {
    const id = this.detail.id;
    const page = await api.history(id, { limit: PAGE }).catch((err) => this.lost(id, err));
    if (page && this.detail && this.detail.id === id) this.history.show(id, page);
  }

  async refresh() {
    if (!this.detail) return;
    const id = this.detail.id;
    try {
      this.apply(await api.conversation(id));
    } catch (err) {
      this.lost(id, err);
    }
  }

  /** A request about ``id`` failed: gone from the inbox (transferred away) or an error. */
  lost(id, err) {
    if (this.goneText) return; // left already, and says why
    if (takenBy(err)) this.leave(`Taken over by ${takenBy(err)}.`);
    else if (err.status === 404) this.hooks.onGone(id);
    else fail(err);
  }

  /**
   * The open conversation left this agent's view (a colleague took it, it was transferred
   * away): it stays on screen, read-only, saying why, instead of vanishing under the cursor.
   */
  leave(text) {
    if (!this.detail) return;
    this.goneText = text;
    $("#gone-text").textContent = text;
    $("#conv-gone").hidden = false;
    $("#conv-claim").hidden = true;
    $("#conv-window").hidden = true;
    for (const b of $$("#conv-actions [data-action]")) b.hidden = true;
    this.composer.apply({ ...this.detail, composer: { ...this.detail.composer, can_reply: false, reason: text } });
  }

  /** New messages arrived: merge the newest page, or reload if more came than it holds. */
  async refreshMessages() {
    if (!this.detail) return;
    const id = this.detail.id;
    const page = await api.history(id, { limit: 30 }).catch((err) => this.lost(id, err));
    if (!page || !this.detail || this.detail.id !== id) return;
    if (this.history.replaced(page.items) || !this.history.merge(page.items, { complete: page.next_before === null })) {
      this.history.show(id, await api.history(id, { limit: PAGE }));
    }
  }

  async updateMessage(messageId) {
    if (!this.detail) return;
    const id = this.detail.id;
    try {
      const m = await api.message(id, messageId);
      if (this.detail && this.detail.id === id) this.history.merge([m]);
    } catch (err) {
      if (err.status !== 404) fail(err);
    }
  }

  render() {
    const d = this.detail;
    $("#conv-gone").hidden = true;
    const icon = $("#conv-icon");
    icon.src = channelIconUrl(d.channel_id);
    icon.alt = d.channel_label;
    icon.title = d.channel_label;
    $("#conv-name").textContent = displayName(d);
    const owner = d.assigned_agent_id === state.me.id ? "Yours"
      : d.assigned_agent_id ? `With ${d.assigned_agent_name}` : d.queue_name ? `Queue: ${d.queue_name}` : "Unassigned";
    fill($("#conv-sub"), h("bdi", d.customer_display), ` · ${d.channel_label} · ${owner}`,
      d.status === "closed" ? " · Closed" : "", d.archived ? " · Archived" : "");
    this.renderActions(d);
    this.renderRules(d);
  }

  renderActions(d) {
    const set = (name, label, visible = true, title = null) => {
      const b = $(`#conv-actions [data-action="${name}"]`);
      b.hidden = !visible;
      $(".label", b).textContent = label;
      if (title) b.title = title;
    };
    set("claim", "Take over", d.assigned_agent_id === null);
    set("transfer", "Transfer", d.assigned_agent_id === null || d.assigned_agent_id === state.me.id);
    set("call", "Call", d.rules.address_kind === "phone");
    set("contact", d.contact_id ? "Contact ✓" : "Contact", true,
      d.contact_id ? `Saved as ${d.contact_name}; add the number to another contact` : "Save the customer as a contact (s)");
    set("archive", d.archived ? "Unarchive" : "Archive");
    set("close", d.status === "open" ? "Close" : "Reopen");
    $('#conv-actions [data-action="close"] .i').className = `i i-${d.status === "open" ? "close" : "reopen"}`;
    set("unread", "Unread");
  }

  renderRules(d) {
    const r = d.rules;
    const ch = channelById(d.channel_id);
    const parts = [d.channel_label];
    if (ch) parts.push(`from ${ch.business_address}`);
    if (!r.business_can_start) parts.push("customers start conversations");
    if (r.reply_window_seconds) parts.push(`replies within ${duration(r.reply_window_seconds * 1000)} of the customer's last message`);
    if (r.auto_close_after_seconds) parts.push(`closes after ${duration(r.auto_close_after_seconds * 1000)} idle`);
    parts.push(`files up to ${bytes(r.max_file_bytes)}, kept ${duration(r.file_retention_seconds * 1000)}`);
    $("#conv-rules").textContent = parts.join(" · ");
    const claim = $("#conv-claim");
    claim.hidden = !(d.assigned_agent_id === null && d.status === "open");
    const others = d.queue_id ? alsoSeenBy(d.queue_id) : [];
    fill($("#claim-text"), `Waiting in ${d.queue_name ? `the ${d.queue_name} queue` : "the shared inbox"}. `,
      "Take it over to handle it (replying takes it over too).",
      others.length ? h("span.also-sees", " Also offered to ", others.map((a, i) => [i ? ", " : "",
        h("bdi", a.name), h(`span.dot.presence-${presenceOf(a)}`, { title: presenceOf(a) })]), ".") : null);
    this.tick();
  }

  /** The reply window's countdown; when it runs out, ask the server (it decides). */
  tick() {
    const d = this.detail;
    const el = $("#conv-window");
    if (!d || !d.composer.window_closes_at || !d.composer.can_reply) {
      el.hidden = true;
      return;
    }
    const left = Date.parse(d.composer.window_closes_at) - serverNow();
    if (left <= 0) {
      el.hidden = true;
      this.refresh();
      return;
    }
    el.hidden = false;
    el.classList.toggle("warn", left < WARN_MS);
    el.textContent = `Reply window: ${duration(left)} left (closes ${dayTime(d.composer.window_closes_at, "at ")}). ` +
      "Each customer message restarts it.";
  }

  async act(name) {
    const d = this.detail;
    if (!d) return;
    try {
      // Handed to a colleague: it has left my inbox (its removal may have come first).
      if (name === "transfer") return transferDialog(d, (view) => (view.assigned_agent_id && view.assigned_agent_id !== state.me.id
        && state.me.role !== "admin" ? this.hooks.onGone(view.id) : this.changed(view)));
      if (name === "contact") return contactDialog(d, () => this.refresh());
      if (name === "call") {
        const plan = await api.callPlan(d.id);
        return callDialog(d, plan, () => this.dial(d, plan));
      }
      const verb = name === "archive" ? (d.archived ? "unarchive" : "archive")
        : name === "close" ? (d.status === "open" ? "close" : "reopen") : name;
      const view = await api.action(d.id, verb);
      this.changed(view);
      if (verb === "unread") toast("Marked unread.");
      // A single key closes at once: offer the way back.
      if (verb === "close") toast("Conversation closed.", "info", { label: "Undo", run: () => this.undoClose(d.id) });
      if (verb === "claim") toast("It is yours now.");
    } catch (err) {
      const other = err.body && err.body.conversation_id;
      if (takenBy(err)) {
        // A colleague was faster: say who, and keep the conversation readable.
        toast(`Taken by ${takenBy(err)}.`, "error");
        this.leave(`Taken over by ${takenBy(err)}.`);
        return;
      }
      if (err.status === 409 && other && other !== d.id) {
        toast(err.message, "error", { label: "Open it", run: () => (location.hash = `#/conversation/${other}`) });
      } else fail(err);
      if (err.status === 409) this.refresh();
    }
  }

  /** Dial after the confirmation; a failed call is in the history either way, with its reason. */
  async dial(d, plan) {
    try {
      // The handler confirmed is the one that dials (when none can, the server says why).
      const result = await api.call(d.id, plan.available ? plan.handler : null);
      toast(result.outcome ? `${result.detail} — ${result.outcome}` : result.detail);
      this.history.merge([result.message]);
    } catch (err) {
      fail(err);
      await this.refreshMessages();
    }
    return true;
  }

  async undoClose(id) {
    try {
      this.hooks.onChanged(await api.action(id, "reopen"));
      if (this.id === id) this.refresh();
      toast("Reopened.");
    } catch (err) {
      fail(err);
    }
  }

  changed(view) {
    this.hooks.onChanged(view);
    this.refresh();
  }

  async retry(m) {
    try {
      this.history.merge([await api.retry(m.id)]);
    } catch (err) {
      fail(err);
      this.updateMessage(m.id);
    }
  }

  focusComposer() {
    this.composer.focus();
  }
}
