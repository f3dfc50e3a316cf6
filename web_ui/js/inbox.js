// The conversation list: filters, a virtual list fed page by page through the keyset
// cursor, and live updates that move a conversation to its place without a reload.

import { api, channelIconUrl } from "./api.js";
import { $, $$, h, fill } from "./dom.js";
import { displayName, shortWhen } from "./format.js";
import { inert } from "./text.js";
import { alsoSeenBy, on, state } from "./state.js";
import { fail } from "./toast.js";
import { VirtualList } from "./vlist.js";

const ROW_HEIGHT = 64; // keep in step with .row in app.css
// A copy of tray_agent/core/views.py FILTERS (the buttons in index.html follow it, keys 1-5 too);
// tests/core/test_one_source.py holds the two to each other.
export const FILTERS = ["all", "unread", "mine", "unassigned", "archived"];
/** The running sandbox's customer-phone page (loopback only), when a channel uses it. */
function sandboxPhoneUrl() {
  const sb = state.channels.find((c) => c.enabled && c.settings && c.settings.source === "sandbox"
    && /^http:\/\/(127\.0\.0\.1|localhost):\d+$/.test(c.settings.api_base || ""));
  return sb ? `${sb.settings.api_base}/` : "";
}

const EMPTY = {
  all: "No conversations yet.",
  unread: "Nothing unread.",
  mine: "No conversations assigned to you.",
  unassigned: "No conversations waiting in a queue.",
  archived: "No archived conversations.",
};

const when = (c) => Date.parse(c.last_activity_at || 0);
/** The server's order: most recent activity first, then the higher id. */
const sortsBefore = (a, b) => when(a) > when(b) || (when(a) === when(b) && a.id > b.id);

export class InboxList {
  constructor(onOpen) {
    this.onOpen = onOpen;
    this.filter = "all";
    this.channelId = null;
    this.items = [];
    this.cursor = null;
    this.loading = false;
    this.generation = 0;
    this.painted = false;
    this.viewport = $("#inbox-list");
    this.list = new VirtualList(this.viewport, ROW_HEIGHT, () => this.createRow(),
      (el, c) => this.updateRow(el, c), () => this.loadMore());
    this.viewport.addEventListener("click", (e) => {
      const row = e.target.closest(".row");
      if (row && row.dataset.id) this.onOpen(Number(row.dataset.id));
    });
    for (const b of $$("#filters [data-filter]")) b.addEventListener("click", () => this.setFilter(b.dataset.filter));
    $("#channel-filter").addEventListener("change", (e) => this.setChannel(e.target.value ? Number(e.target.value) : null));
    on("channels", () => {
      this.renderChannelFilter();
      this.refresh();
    });
  }

  setFilter(filter) {
    if (!FILTERS.includes(filter)) return;
    this.filter = filter;
    for (const b of $$("#filters [data-filter]")) b.setAttribute("aria-pressed", String(b.dataset.filter === filter));
    this.reload();
  }

  setChannel(channelId) {
    this.channelId = channelId;
    this.reload();
  }

  renderChannelFilter() {
    const select = $("#channel-filter");
    fill(select, h("option", { value: "" }, "All channels"),
      state.channels.map((c) => h("option", { value: String(c.id), selected: c.id === this.channelId }, c.name)));
    select.hidden = state.channels.length < 2;
  }

  async reload() {
    this.generation++;
    this.items = [];
    this.cursor = null;
    this.loading = false;
    this.list.setItems([], { keepScroll: false });
    await this.loadMore(true);
  }

  async loadMore(first = false) {
    if (this.loading || (!first && !this.cursor)) return;
    this.loading = true;
    const gen = this.generation;
    let page;
    try {
      page = await api.inbox(this.filter, { channelId: this.channelId, cursor: first ? null : this.cursor,
        limit: first ? 60 : 200 });
    } catch (err) {
      fail(err);
      return;
    } finally {
      if (gen === this.generation) this.loading = false;
    }
    if (gen !== this.generation) return; // the filter changed meanwhile
    const known = new Set(this.items.map((c) => c.id));
    this.items.push(...page.items.filter((c) => !known.has(c.id)));
    this.cursor = page.next_cursor;
    this.refresh();
    if (!this.painted) {
      this.painted = true;
      requestAnimationFrame(() => performance.mark("tray:inbox-painted"));
    }
  }

  refresh() {
    this.list.setItems(this.items, { footer: Boolean(this.cursor) });
    const empty = $("#inbox-empty");
    const phone = this.filter === "all" ? sandboxPhoneUrl() : "";
    if (phone) {
      // A new user's first step: play the customer on the sandbox's phone page.
      fill(empty, EMPTY.all, " ", h("a", { href: phone, target: "_blank", rel: "noopener" },
        "Text the business from the sandbox's customer phone"), ".");
    } else {
      empty.textContent = EMPTY[this.filter];
    }
    empty.hidden = this.items.length > 0 || Boolean(this.cursor) || this.loading;
  }

  matches(c) {
    if (this.channelId && c.channel_id !== this.channelId) return false;
    if (this.filter === "archived") return c.archived;
    if (c.archived) return false;
    if (this.filter === "unread") return c.unread;
    if (this.filter === "mine") return c.assigned_agent_id === state.me.id;
    if (this.filter === "unassigned") return c.assigned_agent_id === null;
    return true;
  }

  /** A conversation changed: put it where the server would, or take it out. */
  upsert(c) {
    const i = this.items.findIndex((x) => x.id === c.id);
    // The open conversation stays while it is read, even if it stops matching ("unread").
    const keep = this.matches(c) || (i >= 0 && c.id === state.openId);
    if (i >= 0) this.items.splice(i, 1);
    if (keep) {
      let j = this.items.findIndex((x) => sortsBefore(c, x));
      if (j < 0 && !this.cursor) j = this.items.length; // else it comes with a later page
      if (j >= 0) this.items.splice(j, 0, c);
    }
    this.refresh();
  }

  remove(id) {
    const i = this.items.findIndex((x) => x.id === id);
    if (i >= 0) {
      this.items.splice(i, 1);
      this.refresh();
    }
  }

  get(id) {
    return this.items.find((x) => x.id === id);
  }

  select(id) {
    this.list.render(true);
    const i = this.items.findIndex((x) => x.id === id);
    if (i >= 0) this.list.reveal(i);
  }

  /** The conversation ``delta`` rows from the open one (keyboard navigation). */
  neighbour(delta, fromId = state.openId) {
    const i = this.items.findIndex((x) => x.id === fromId);
    const j = i < 0 ? 0 : i + delta;
    return this.items[Math.max(0, Math.min(this.items.length - 1, j))];
  }

  createRow() {
    const icon = h("img.row-icon", { width: 28, height: 28, alt: "", decoding: "async" });
    const name = h("bdi.row-name");
    const tags = h("span.row-tags");
    const time = h("time.row-time");
    const preview = h("span.row-preview", { dir: "auto" });
    const badge = h("span.row-badge");
    const el = h("div.row", { role: "option" }, icon,
      h("div.row-main", h("div.row-top", name, tags, time), h("div.row-bottom", preview, badge)));
    el.parts = { icon, name, tags, time, preview, badge };
    return el;
  }

  updateRow(el, c) {
    const p = el.parts;
    el.dataset.id = String(c.id);
    el.classList.toggle("unread", c.unread);
    el.classList.toggle("closed", c.status === "closed");
    el.classList.toggle("selected", c.id === state.openId);
    el.setAttribute("aria-selected", String(c.id === state.openId));
    const src = channelIconUrl(c.channel_id);
    if (p.icon.getAttribute("src") !== src) p.icon.src = src;
    p.icon.alt = c.channel_label;
    p.icon.title = c.channel_label;
    p.name.textContent = displayName(c);
    p.name.title = `${displayName(c)} · ${inert(c.customer_display)}`;
    p.tags.textContent = c.status === "closed" ? "Closed"
      : c.assigned_agent_id === null ? (c.queue_name ? `Queue: ${c.queue_name}` : "Unassigned") : "";
    // A queue offer: who else sees it (the queue's other members) until one takes it over.
    const others = c.assigned_agent_id === null && c.queue_id ? alsoSeenBy(c.queue_id).map((a) => a.name) : [];
    p.tags.title = others.length ? `Also offered to ${others.join(", ")}` : "";
    p.time.textContent = shortWhen(c.last_activity_at);
    p.time.dateTime = c.last_activity_at || "";
    // "You:" only for this agent's own replies; a colleague's carries their name.
    const who = c.last_message_direction !== "out" || !c.last_message_sender_id ? ""
      : c.last_message_sender_id === state.me.id ? "You: " : `${inert(c.last_message_sender_name || "A colleague")}: `;
    p.preview.textContent = who + inert(c.last_message_preview);
    p.preview.classList.toggle("system", c.last_message_direction === "system");
    p.badge.textContent = c.unread_count > 0 ? String(c.unread_count > 99 ? "99+" : c.unread_count) : c.unread ? "•" : "";
    p.badge.hidden = !c.unread;
    p.badge.title = c.unread_count ? `${c.unread_count} unread` : "Marked unread";
  }
}
