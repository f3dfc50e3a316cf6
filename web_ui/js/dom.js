// Building DOM without markup strings: every text goes through createTextNode, so
// nothing a customer sends can become an element. innerHTML is never used.

/**
 * h("div.msg.in", {dataset: {id: 1}, onclick: fn}, "text", child)
 * Children may be strings (made text nodes), nodes, arrays, null/false (skipped).
 */
export function h(tag, props, ...children) {
  const [name, ...classes] = tag.split(".");
  const el = document.createElement(name || "div");
  if (classes.length) el.className = classes.join(" ");
  // The second argument is optional: anything but a plain object is a child.
  if (props !== null && typeof props === "object" && Object.getPrototypeOf(props) === Object.prototype) {
    setProps(el, props);
  } else {
    children.unshift(props);
  }
  append(el, children);
  return el;
}

function setProps(el, props) {
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "dataset") Object.assign(el.dataset, value);
    else if (key === "class") el.className = value;
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key in el && key !== "list" && key !== "form") el[key] = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
}

export function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** Replace an element's children. */
export function fill(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

export function show(el, on = true) {
  el.hidden = !on;
}

/** Is keyboard focus in something that takes text (so single-key shortcuts stay off)? */
export function typingIn(target) {
  if (!(target instanceof HTMLElement)) return false;
  return target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName);
}
