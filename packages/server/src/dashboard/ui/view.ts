import type { DashboardState } from "./state.js";

/** A page of the dashboard: its element, and how it takes new data. */
export interface View {
  el: HTMLElement;
  title: string;
  update(state: DashboardState, what: "overview" | "focus" | "samples"): void;
  /** Sandbox to follow on the event stream (its command log), if any. */
  focus?: string;
  dispose?(): void;
}
