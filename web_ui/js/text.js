// Untrusted text (customer names, file names, previews) as shown: bidi controls cannot
// reorder what follows them. Renderers also isolate such text (<bdi>, dir="auto");
// tray_agent/core/display.py is the desktop's and the CLI's twin of this.

/** Embeddings and overrides, isolates, the LRM/RLM marks and the Arabic letter mark. */
export const BIDI_CONTROLS = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/gu;

/** A name or preview as shown: without bidi controls, in the order it is stored. */
export function inert(text) {
  return String(text ?? "").replace(BIDI_CONTROLS, "");
}

/** A file name as shown: bidi controls made visible (\ufffd), so "photo\u202egnp.exe"
 * cannot pose as "photoexe.png" and the trick shows where it was. */
export function fileLabel(name) {
  return String(name ?? "").replace(BIDI_CONTROLS, "\ufffd");
}
