// The conversation's history: pages of messages loaded as the agent scrolls back, and a
// sliding window of them in the DOM (a 10,000-message history never means 10,000
// elements). The scroll position is kept on a visible message while the window moves.
// Each conversation of the customer's is labelled once, where its messages begin.

import { api } from "./api.js";
import { $ } from "./dom.js";
import { renderMessage } from "./message.js";
import { fail } from "./toast.js";

export const PAGE = 60; // messages per request
const CHUNK = 40; // messages added to the window at a time
const MAX_RENDERED = 240; // the window's size
const EDGE_PX = 400; // this close to an end, the window moves

export class History {
  constructor(onRetry) {
    this.el = $("#history");
    this.inner = $("#history-items");
    this.topNote = $("#history-top");
    this.newBelow = $("#new-below");
    this.onRetry = onRetry;
    this.segments = new Map(); // conversation id -> {label, channel_id, channel_label}
    this.mixed = false; // more than one channel in this history: say it on each message
    this.reset(null);
    this.el.addEventListener("scroll", () => this.schedule(), { passive: true });
    this.newBelow.addEventListener("click", () => this.jumpToEnd());
  }

  reset(openId) {
    this.openId = openId;
    this.msgs = []; // every loaded message, oldest first
    this.nextBefore = null;
    this.lo = 0; // msgs[lo..hi) are in the DOM
    this.hi = 0;
    this.loadingOlder = false;
    this.firstIds = new Map(); // conversation id -> its first loaded message id
    this.generation = (this.generation || 0) + 1;
    this.inner.replaceChildren();
    this.newBelow.hidden = true;
  }

  get rendered() {
    return this.hi - this.lo;
  }

  /** What each conversation in the history is (see ``segmentsOf``); false if unchanged. */
  setSegments(segments) {
    const key = (m) => JSON.stringify([...m.entries()]);
    if (key(segments) === key(this.segments)) return false;
    this.segments = segments;
    this.mixed = new Set([...segments.values()].map((s) => s.channel_id)).size > 1;
    return true;
  }

  /** Recount where each conversation starts; re-render messages that stopped being first. */
  updateFirsts() {
    const before = this.firstIds;
    this.firstIds = new Map();
    for (const m of this.msgs) if (!this.firstIds.has(m.conversation_id)) this.firstIds.set(m.conversation_id, m.id);
    for (const [conv, id] of before) {
      if (this.firstIds.get(conv) !== id) {
        const i = this.indexOf(id);
        if (i >= 0) this.rerender(this.msgs[i]);
      }
    }
  }

  /** Show a conversation's newest page, scrolled to the end. */
  show(openId, page) {
    this.reset(openId);
    this.msgs = page.items.slice();
    this.updateFirsts();
    this.nextBefore = page.next_before;
    this.lo = Math.max(0, this.msgs.length - MAX_RENDERED);
    this.hi = this.msgs.length;
    this.inner.append(this.renderRange(this.lo, this.hi));
    this.updateTop();
    this.scrollToEnd();
    this.schedule();
  }

  ctx() {
    return { openId: this.openId, complete: this.nextBefore === null, onRetry: this.onRetry,
      segments: this.segments, mixed: this.mixed, firstIds: this.firstIds };
  }

  renderRange(a, b) {
    const frag = document.createDocumentFragment();
    const ctx = this.ctx();
    for (let i = a; i < b; i++) frag.append(renderMessage(this.msgs[i], this.msgs[i - 1], ctx));
    return frag;
  }

  element(id) {
    return this.inner.querySelector(`.item[data-id="${Number(id)}"]`);
  }

  updateTop() {
    this.topNote.textContent = this.nextBefore === null ? "" : this.loadingOlder ? "Loading earlier messages…" : "";
    this.topNote.hidden = this.nextBefore === null && !this.loadingOlder;
  }

  atEnd() {
    return this.hi === this.msgs.length && this.el.scrollHeight - this.el.scrollTop - this.el.clientHeight < 48;
  }

  scrollToEnd() {
    this.el.scrollTop = this.el.scrollHeight;
  }

  schedule() {
    if (!this.frame) this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.check();
    });
  }

  check() {
    const { scrollTop, scrollHeight, clientHeight } = this.el;
    if (scrollTop < EDGE_PX) this.older();
    else if (scrollHeight - scrollTop - clientHeight < EDGE_PX && this.hi < this.msgs.length) this.newer();
    if (this.hi === this.msgs.length && scrollHeight - scrollTop - clientHeight < 48) this.newBelow.hidden = true;
  }

  /** Keep the first visible message where it is on screen while ``change`` runs. */
  keepAnchor(change) {
    const top = this.el.scrollTop;
    let anchor = null;
    let offset = 0;
    for (const item of this.inner.children) {
      if (item.offsetTop + item.offsetHeight > top) {
        anchor = item;
        offset = item.offsetTop - top;
        break;
      }
    }
    change();
    if (anchor && anchor.isConnected) this.el.scrollTop = anchor.offsetTop - offset;
  }

  async older() {
    if (this.lo > 0) return this.growUp();
    if (this.nextBefore === null || this.loadingOlder) return;
    this.loadingOlder = true;
    this.updateTop();
    const gen = this.generation;
    let page;
    try {
      page = await api.history(this.openId, { before: this.nextBefore, limit: PAGE });
    } catch (err) {
      fail(err);
      return;
    } finally {
      if (gen === this.generation) this.loadingOlder = false;
    }
    if (gen !== this.generation) return; // another conversation was opened meanwhile
    this.msgs.unshift(...page.items);
    this.lo += page.items.length;
    this.hi += page.items.length;
    this.nextBefore = page.next_before;
    this.updateFirsts();
    this.updateTop();
    this.growUp();
  }

  growUp() {
    const from = Math.max(0, this.lo - CHUNK);
    const oldFirst = this.msgs[this.lo];
    this.keepAnchor(() => {
      this.inner.prepend(this.renderRange(from, this.lo));
      this.lo = from;
      // The old first message now has a predecessor: its dividers may change.
      if (oldFirst) this.rerender(oldFirst);
      while (this.hi - this.lo > MAX_RENDERED) this.element(this.msgs[--this.hi].id)?.remove();
    });
    if (this.el.scrollTop < EDGE_PX) this.schedule();
  }

  newer() {
    const to = Math.min(this.msgs.length, this.hi + CHUNK);
    this.keepAnchor(() => {
      this.inner.append(this.renderRange(this.hi, to));
      this.hi = to;
      while (this.hi - this.lo > MAX_RENDERED) this.element(this.msgs[this.lo++].id)?.remove();
    });
  }

  jumpToEnd() {
    if (this.hi < this.msgs.length) {
      this.lo = Math.max(0, this.msgs.length - CHUNK * 2);
      this.hi = this.msgs.length;
      this.inner.replaceChildren(this.renderRange(this.lo, this.hi));
    }
    this.newBelow.hidden = true;
    this.scrollToEnd();
  }

  rerender(m) {
    const i = this.indexOf(m.id);
    const el = this.element(m.id);
    if (i < 0 || !el) return;
    el.replaceWith(renderMessage(this.msgs[i], this.msgs[i - 1], this.ctx()));
  }

  indexOf(id) {
    let lo = 0;
    let hi = this.msgs.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const v = this.msgs[mid].id;
      if (v === id) return mid;
      if (v < id) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }

  /**
   * New or changed messages (live events, a sent reply). Returns false when they leave a
   * gap after what is loaded, so the caller reloads the newest page instead.
   */
  /**
   * Does a page hold a row inside what is shown that was never shown? The server's row took
   * the place of a reply written offline (its local echo sorted last): reload instead.
   */
  replaced(items) {
    const first = this.msgs.length ? this.msgs[0].id : 0;
    const last = this.msgs.length ? this.msgs[this.msgs.length - 1].id : 0;
    return items.some((m) => m.id > first && m.id < last && this.indexOf(m.id) < 0);
  }

  merge(items, { complete = true } = {}) {
    const wasAtEnd = this.atEnd();
    const last = this.msgs.length ? this.msgs[this.msgs.length - 1].id : 0;
    const fresh = items.filter((m) => m.id > last);
    if (!complete && fresh.length === items.length && this.msgs.length) return false;
    for (const m of items) {
      if (m.id > last) continue;
      const i = this.indexOf(m.id);
      if (i >= 0) {
        const newlyFailed = m.status === "failed" && this.msgs[i].status !== "failed";
        this.msgs[i] = m;
        this.rerender(m);
        // The reason and Retry grow the message downwards: bring them into view.
        if (newlyFailed) this.element(m.id)?.querySelector(".failure")?.scrollIntoView({ block: "nearest" });
      }
    }
    if (!fresh.length) return true;
    const showing = this.hi === this.msgs.length;
    fresh.sort((a, b) => a.id - b.id);
    this.msgs.push(...fresh);
    for (const m of fresh) if (!this.firstIds.has(m.conversation_id)) this.firstIds.set(m.conversation_id, m.id);
    if (showing) {
      this.inner.append(this.renderRange(this.hi, this.msgs.length));
      this.hi = this.msgs.length;
      if (this.hi - this.lo > MAX_RENDERED && wasAtEnd) {
        while (this.hi - this.lo > MAX_RENDERED) this.element(this.msgs[this.lo++].id)?.remove();
      }
    }
    if (wasAtEnd || fresh.every((m) => m.direction === "out")) this.jumpToEnd();
    else this.newBelow.hidden = false;
    return true;
  }
}
