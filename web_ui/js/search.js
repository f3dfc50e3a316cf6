// Search across every message's text. Matches are marked with <mark> built from text
// pieces, never from markup.

import { api, channelIconUrl } from "./api.js";
import { $, h, fill } from "./dom.js";
import { displayName, shortWhen } from "./format.js";
import { fail } from "./toast.js";

const SNIPPET = 160;

export class Search {
  constructor(onOpen) {
    this.onOpen = onOpen;
    this.input = $("#search");
    this.results = $("#search-results");
    this.timer = 0;
    this.query = "";
    this.seq = 0;
    this.input.addEventListener("input", () => {
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.run(this.input.value), 200);
    });
    this.input.addEventListener("keydown", (e) => {
      if (e.key === "Escape") {
        e.stopPropagation();
        this.clear();
        this.input.blur();
      }
    });
  }

  get active() {
    return Boolean(this.query);
  }

  clear() {
    this.input.value = "";
    this.run("");
  }

  async run(q, before = null) {
    this.raw = q;
    this.query = q.trim();
    const active = this.active;
    this.results.hidden = !active;
    $("#inbox-list").hidden = active;
    $("#filters").hidden = active;
    if (!active) {
      $("#inbox-empty").hidden = true;
      return;
    }
    const mine = ++this.seq;
    let hits;
    try {
      // The raw text: the agent matches the last word as a prefix unless a space ends it.
      hits = await api.search(q.trimStart(), { before });
    } catch (err) {
      if (mine !== this.seq) return;
      if (err.status !== 422 || before) {
        fail(err);
        return;
      }
      // Never leave the previous query's results under a query that has none.
      fill(this.results, h("p.empty", err.message));
      return;
    }
    if (mine !== this.seq) return; // a newer query is on its way
    if (!before) fill(this.results);
    $(".search-more", this.results)?.remove();
    if (!hits.length && !before) {
      this.results.append(h("p.empty", `No messages contain “${this.query}”.`));
      return;
    }
    for (const hit of hits) this.results.append(this.hit(hit));
    if (hits.length === 50) {
      const last = hits[hits.length - 1].message.id;
      this.results.append(h("button.search-more", { type: "button", onclick: () => this.run(this.raw, last) },
        "More results"));
    }
  }

  hit({ message, conversation }) {
    return h("button.hit", { type: "button", dataset: { id: conversation.id, message: message.id },
      onclick: () => this.onOpen(conversation.id) },
    h("img.row-icon", { src: channelIconUrl(conversation.channel_id), alt: conversation.channel_label,
      width: 20, height: 20 }),
    h("span.hit-main",
      h("span.hit-top", h("bdi.row-name", displayName(conversation)), h("time.row-time", shortWhen(message.created_at))),
      h("span.hit-text", { dir: "auto" }, highlight(snippet(message.text, this.query), this.query))));
  }
}

function snippet(text, q) {
  const first = q.split(/\s+/)[0].toLowerCase();
  const at = text.toLowerCase().indexOf(first);
  const start = Math.max(0, at - 40);
  const cut = text.slice(start, start + SNIPPET);
  return (start > 0 ? "…" : "") + cut + (start + SNIPPET < text.length ? "…" : "");
}

/** Text and <mark> nodes for every occurrence of the query's words. */
export function highlight(text, q) {
  const words = q.split(/[^\p{L}\p{N}_]+/u).filter(Boolean).map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
  if (!words.length) return [text];
  const re = new RegExp(`(${words.join("|")})`, "giu");
  return text.split(re).map((part, i) => (i % 2 ? h("mark", part) : part));
}
