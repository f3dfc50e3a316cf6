// A virtual list with a fixed row height: only the rows in view (plus a margin) exist in
// the DOM, recycled as the list scrolls, so 100,000 conversations scroll like 20.

import { h } from "./dom.js";

const OVERSCAN = 6;

export class VirtualList {
  /**
   * @param {HTMLElement} viewport  the scrolling element
   * @param {number} rowHeight  px, matches the CSS
   * @param {() => HTMLElement} createRow  a blank row element
   * @param {(el: HTMLElement, item: object, index: number) => void} updateRow
   * @param {() => void} onNearEnd  called when the last rows come into view
   */
  constructor(viewport, rowHeight, createRow, updateRow, onNearEnd) {
    this.viewport = viewport;
    this.rowHeight = rowHeight;
    this.createRow = createRow;
    this.updateRow = updateRow;
    this.onNearEnd = onNearEnd;
    this.items = [];
    this.footer = false; // a "loading more" row after the items
    this.spacer = h("div.vlist-spacer", { role: "presentation" });
    this.footerEl = h("div.vlist-footer", { hidden: true }, "Loading…");
    this.viewport.append(this.spacer, this.footerEl);
    this.pool = new Map(); // index → row element
    this.free = [];
    this.frame = 0;
    viewport.addEventListener("scroll", () => this.schedule(), { passive: true });
    new ResizeObserver(() => this.schedule()).observe(viewport);
  }

  setItems(items, { footer = false, keepScroll = true } = {}) {
    this.items = items;
    this.footer = footer;
    if (!keepScroll) this.viewport.scrollTop = 0;
    this.render(true);
  }

  schedule() {
    if (!this.frame) this.frame = requestAnimationFrame(() => this.render(false));
  }

  /** Draw the rows in view now; ``all`` redraws their content too (the data changed). */
  render(all = true) {
    cancelAnimationFrame(this.frame);
    this.frame = 0;
    const count = this.items.length;
    this.spacer.style.height = `${(count + (this.footer ? 1 : 0)) * this.rowHeight}px`;
    this.footerEl.hidden = !this.footer;
    this.footerEl.style.transform = `translateY(${count * this.rowHeight}px)`;
    const top = this.viewport.scrollTop;
    const height = this.viewport.clientHeight || 600;
    const first = Math.max(0, Math.floor(top / this.rowHeight) - OVERSCAN);
    const last = Math.min(count - 1, Math.ceil((top + height) / this.rowHeight) + OVERSCAN);
    for (const [index, el] of this.pool) {
      if (index < first || index > last) {
        this.pool.delete(index);
        el.hidden = true;
        this.free.push(el);
      }
    }
    for (let i = first; i <= last; i++) {
      let el = this.pool.get(i);
      const fresh = !el;
      if (fresh) {
        el = this.free.pop() || this.viewport.appendChild(this.createRow());
        el.hidden = false;
        el.style.transform = `translateY(${i * this.rowHeight}px)`;
        this.pool.set(i, el);
      }
      if (fresh || all) this.updateRow(el, this.items[i], i);
    }
    if (this.footer && last >= count - 1 - OVERSCAN * 2) this.onNearEnd();
  }

  /** Bring row ``index`` into view (keyboard navigation). */
  reveal(index) {
    const top = index * this.rowHeight;
    const vp = this.viewport;
    if (top < vp.scrollTop) vp.scrollTop = top;
    else if (top + this.rowHeight > vp.scrollTop + vp.clientHeight) vp.scrollTop = top + this.rowHeight - vp.clientHeight;
    this.render(false);
  }

  /** How many row elements exist (tests check that it stays small). */
  get rendered() {
    return this.pool.size;
  }
}
