/** A table with sortable columns that re-renders its rows in place (the header and focus stay). */
import { append, h } from "./dom.js";

type Cell = Node | string | number | null | undefined | false;

export interface Column<T> {
  key: string;
  label: string;
  /** Present: the header is a sort button. */
  compare?: (a: T, b: T) => number;
  cell: (row: T) => Cell | Cell[];
  class?: string;
}

export class SortableTable<T> {
  readonly el: HTMLTableElement;
  private readonly tbody: HTMLTableSectionElement;
  private readonly heads = new Map<string, HTMLTableCellElement>();
  private rows: T[] = [];

  constructor(
    private readonly columns: Column<T>[],
    private readonly opts: { sortKey: string; descending?: boolean; rowKey: (row: T) => string; testId: string },
  ) {
    this.tbody = h("tbody");
    const tr = h("tr");
    for (const c of columns) {
      const th = h("th", { scope: "col", class: c.class });
      if (c.compare) {
        th.appendChild(h("button", { type: "button", class: "sort", "data-sort": c.key, onclick: () => this.sortBy(c.key) }, c.label));
      } else {
        th.textContent = c.label;
      }
      this.heads.set(c.key, th);
      tr.appendChild(th);
    }
    this.el = h("table", { class: "grid", "data-testid": opts.testId }, h("thead", {}, tr), this.tbody);
    this.markSort();
  }

  /** Shows these rows, sorted by the current column. */
  render(rows: T[]): void {
    this.rows = rows;
    const col = this.columns.find((c) => c.key === this.opts.sortKey);
    const sorted = col?.compare ? [...rows].sort((a, b) => (this.opts.descending ? -1 : 1) * col.compare!(a, b)) : rows;
    const out = sorted.map((row) => {
      const tr = h("tr", { "data-id": this.opts.rowKey(row) });
      for (const c of this.columns) {
        const td = h("td", { "data-label": c.label, class: c.class, "data-col": c.key });
        const v = c.cell(row);
        append(td, Array.isArray(v) ? v : [v]);
        tr.appendChild(td);
      }
      return tr;
    });
    // Keep keyboard focus on the same button of the same row across live re-renders.
    const active = document.activeElement as HTMLElement | null;
    const row = active && this.tbody.contains(active) ? active.closest("tr")?.dataset.id : undefined;
    const action = active?.dataset.action;
    this.tbody.replaceChildren(...out);
    if (row && action) {
      this.tbody.querySelector<HTMLElement>(`tr[data-id="${CSS.escape(row)}"] [data-action="${CSS.escape(action)}"]`)?.focus();
    }
  }

  /** A "Sort by" select with the same effect as the header buttons (for phones, where headers are hidden). */
  sortSelect(): HTMLElement {
    const select = h("select", { "aria-label": "Sort by" });
    for (const c of this.columns.filter((c) => c.compare)) {
      for (const desc of [false, true]) {
        select.appendChild(h("option", { value: `${c.key}:${desc ? "desc" : "asc"}` }, `${c.label} ${desc ? "↓" : "↑"}`));
      }
    }
    const sync = () => (select.value = `${this.opts.sortKey}:${this.opts.descending ? "desc" : "asc"}`);
    sync();
    select.addEventListener("change", () => {
      const [key, dir] = select.value.split(":");
      this.opts.sortKey = key!;
      this.opts.descending = dir === "desc";
      this.markSort();
      this.render(this.rows);
    });
    this.onSort = sync;
    return h("label", { class: "check phone-only" }, "Sort ", select);
  }

  private onSort: () => void = () => undefined;

  private sortBy(key: string): void {
    if (this.opts.sortKey === key) this.opts.descending = !this.opts.descending;
    else {
      this.opts.sortKey = key;
      this.opts.descending = false;
    }
    this.markSort();
    this.onSort();
    this.render(this.rows);
  }

  private markSort(): void {
    for (const [key, th] of this.heads) {
      if (key === this.opts.sortKey) th.setAttribute("aria-sort", this.opts.descending ? "descending" : "ascending");
      else th.removeAttribute("aria-sort");
    }
  }
}

export const byText =
  <T>(f: (r: T) => string) =>
  (a: T, b: T) =>
    f(a).localeCompare(f(b));
export const byNumber =
  <T>(f: (r: T) => number) =>
  (a: T, b: T) =>
    f(a) - f(b);
