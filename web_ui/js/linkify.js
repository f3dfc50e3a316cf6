// Untrusted message text → text nodes, with http(s) URLs turned into links that open
// outside the window. Only http: and https: ever become an href.

import { h } from "./dom.js";

const URL_RE = /\bhttps?:\/\/[^\s<>"'`\u0000-\u001f\u007f\u200b-\u200f\u202a-\u202e\u2066-\u2069]+/giu;
const TRAILING = /[.,;:!?)\]}'"»”’]+$/u;

/** Nodes for ``text``: text nodes and <a> elements, nothing else. */
export function linkify(text) {
  const out = [];
  let last = 0;
  for (const match of String(text).matchAll(URL_RE)) {
    let raw = match[0];
    const trail = raw.match(TRAILING);
    if (trail) raw = raw.slice(0, raw.length - trail[0].length);
    const href = safeHref(raw);
    if (!href) continue;
    if (match.index > last) out.push(document.createTextNode(text.slice(last, match.index)));
    out.push(h("a", { href, target: "_blank", rel: "noopener noreferrer nofollow", title: href }, raw));
    last = match.index + raw.length;
  }
  if (last < text.length) out.push(document.createTextNode(text.slice(last)));
  return out;
}

export function safeHref(raw) {
  try {
    const url = new URL(raw);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
  } catch {
    return null;
  }
}
