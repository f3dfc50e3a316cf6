// The admin view's small building blocks: tables, selects, member pickers, times.
import { h } from "./dom.js";

export function table(headings, rows, label) {
  return h("table", { "aria-label": label },
    h("thead", h("tr", headings.map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", rows));
}

/** options: [[value, text], ...]; values are strings ("" for none). */
export function select(options, value, props = {}) {
  const el = h("select", props, options.map(([v, t]) => h("option", { value: v }, t)));
  el.value = value ?? "";
  return el;
}

/** A checkbox per agent; ``checked()`` gives the ticked agents' ids. */
export function memberPicker(agents, selected, name) {
  const boxes = agents.map((a) => {
    const box = h("input", { type: "checkbox", value: String(a.id), checked: selected.includes(a.id) });
    return { box, label: h("label.check", box, a.name) };
  });
  const el = h("div.members", { role: "group", "aria-label": name }, boxes.map((b) => b.label));
  el.checked = () => boxes.filter((b) => b.box.checked).map((b) => Number(b.box.value));
  return el;
}

export function when(iso) {
  return iso ? new Date(iso).toLocaleString() : "—";
}

export const PICKUP = [["auto", "Auto-pickup (the first reply takes it)"],
                       ["manual", "Manual pickup (Pick Up takes it)"],
                       ["none", "No pickup (a shared inbox)"]];
