// The live event stream. Resumes from the last sequence number seen: EventSource sends
// Last-Event-ID on its own reconnects, and a fresh connection passes ?after=. A watchdog
// notices a connection that died silently (a laptop waking from sleep) and reconnects.

import { syncClock } from "./state.js";

const STALE_MS = 40000; // the server pings every 15 s
const MAX_BACKOFF_MS = 15000;

export class EventStream {
  /**
   * @param {(events: object[]) => void} onEvents  batches, in sequence order
   * @param {() => void} onResync  the server says: reload your views
   * @param {(connected: boolean) => void} onStatus
   */
  constructor(onEvents, onResync, onStatus) {
    this.onEvents = onEvents;
    this.onResync = onResync;
    this.onStatus = onStatus;
    this.lastSeq = 0;
    this.source = null;
    this.pending = [];
    this.lastActivity = Date.now();
    this.backoff = 500;
    this.retryTimer = 0;
  }

  start(afterSeq) {
    this.lastSeq = afterSeq;
    this.connect();
    setInterval(() => this.checkAlive(), 5000);
    document.addEventListener("visibilitychange", () => document.visibilityState === "visible" && this.checkAlive());
    window.addEventListener("online", () => this.reconnect());
  }

  connect() {
    clearTimeout(this.retryTimer);
    const es = new EventSource(`/api/events/stream?after=${this.lastSeq}`);
    this.source = es;
    this.lastActivity = Date.now();
    es.addEventListener("hello", (e) => {
      this.alive();
      this.backoff = 500;
      syncClock(JSON.parse(e.data).now);
      this.onStatus(true);
    });
    es.addEventListener("ping", (e) => {
      this.alive();
      syncClock(JSON.parse(e.data).now);
    });
    es.addEventListener("resync", (e) => {
      this.alive();
      this.lastSeq = JSON.parse(e.data).last_seq;
      this.pending = [];
      this.onResync();
    });
    es.onmessage = (e) => {
      this.alive();
      const ev = JSON.parse(e.data);
      // Replayed after a reconnect; a removal shares the seq of the event that caused it.
      if (ev.seq < this.lastSeq || (ev.seq === this.lastSeq && ev.type !== "conversation.removed")) return;
      this.lastSeq = ev.seq;
      this.pending.push(ev);
      // Events of one commit arrive together: hand them over as one batch.
      if (this.pending.length === 1) setTimeout(() => this.flush(), 0);
    };
    es.onerror = () => {
      this.onStatus(false);
      // CONNECTING: the browser retries by itself (with Last-Event-ID). CLOSED: it gave
      // up (the agent restarted with an error answer): try again ourselves, slower.
      if (es.readyState === EventSource.CLOSED) this.scheduleReconnect();
    };
  }

  flush() {
    const batch = this.pending;
    this.pending = [];
    if (batch.length) this.onEvents(batch);
  }

  alive() {
    this.lastActivity = Date.now();
  }

  checkAlive() {
    if (Date.now() - this.lastActivity > STALE_MS) this.reconnect();
  }

  reconnect() {
    if (this.source) this.source.close();
    this.connect();
  }

  scheduleReconnect() {
    if (this.source) this.source.close();
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.connect(), this.backoff);
    this.backoff = Math.min(MAX_BACKOFF_MS, this.backoff * 2);
  }
}
