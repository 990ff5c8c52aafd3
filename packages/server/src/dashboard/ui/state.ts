/** The latest data from the event stream, and who wants to hear about it. */
import type { Overview, SandboxFocus } from "../snapshot-types.js";

export interface DashboardState {
  overview: Overview | undefined;
  focus: SandboxFocus | undefined;
  /** Bumped whenever the daemon stored new usage samples. */
  samplesVersion: number;
}

export const state: DashboardState = { overview: undefined, focus: undefined, samplesVersion: 0 };

type Listener = (s: DashboardState, what: "overview" | "focus" | "samples") => void;
const listeners = new Set<Listener>();

export function subscribe(l: Listener): () => void {
  listeners.add(l);
  return () => listeners.delete(l);
}

export function publish(what: "overview" | "focus" | "samples"): void {
  for (const l of listeners) l(state, what);
}
