/**
 * `KillController` / `KillSignal`: Deno Sandbox's AbortController for signals. A command given
 * `.signal(controller.signal)` receives every signal sent with `controller.kill()`; a signal that
 * ends a command (SIGTERM, SIGKILL, SIGABRT, SIGQUIT, SIGINT) also marks the KillSignal aborted,
 * and commands started after that do not run (they fail with exit code 128 + the signal number).
 */

/**
 * Called with each signal sent through a KillSignal.
 *
 * @example const listener: KillSignalListener = (signal) => console.log("got", signal);
 */
export type KillSignalListener = (signal: string) => void;

interface KillState {
  abortedCode: number | undefined;
  listeners: KillSignalListener[];
}

const ABORT_CODES: Record<string, number> = { SIGTERM: 143, SIGKILL: 137, SIGABRT: 134, SIGQUIT: 131, SIGINT: 130 };
const privateKey = Symbol("KillSignal");

function send(state: KillState, signal: string): void {
  const code = ABORT_CODES[signal];
  if (code !== undefined) state.abortedCode = code;
  for (const listener of [...state.listeners]) listener(signal);
}

/**
 * Like `AbortSignal`, for signals to commands. Get one from a `KillController`.
 *
 * @example
 *   const controller = new KillController();
 *   controller.signal.addListener((signal) => console.log(signal));
 */
export class KillSignal {
  readonly #state: KillState;

  /** @internal Use `new KillController().signal`. */
  constructor(key: symbol, state: KillState) {
    if (key !== privateKey) throw new TypeError("KillSignal cannot be constructed: use new KillController().signal");
    this.#state = state;
  }

  /** True once SIGTERM, SIGKILL, SIGABRT, SIGQUIT or SIGINT was sent. @example if (signal.aborted) return; */
  get aborted(): boolean {
    return this.#state.abortedCode !== undefined;
  }

  /** The exit code a command started after the abort reports (128 + the signal number). @example signal.abortedExitCode === 143 */
  get abortedExitCode(): number | undefined {
    return this.#state.abortedCode;
  }

  /**
   * Forwards every signal sent here to `child` too.
   *
   * @example const { unsubscribe } = parent.signal.linkChild(child.signal);
   */
  linkChild(child: KillSignal): { unsubscribe(): void } {
    const listener: KillSignalListener = (signal) => send(child.#state, signal);
    this.addListener(listener);
    return { unsubscribe: () => this.removeListener(listener) };
  }

  /** Calls `listener` with each signal sent. @example signal.addListener((s) => console.log(s)); */
  addListener(listener: KillSignalListener): void {
    this.#state.listeners.push(listener);
  }

  /** Stops calling `listener`. @example signal.removeListener(listener); */
  removeListener(listener: KillSignalListener): void {
    const i = this.#state.listeners.indexOf(listener);
    if (i >= 0) this.#state.listeners.splice(i, 1);
  }
}

/**
 * Sends signals to the commands that were given its `signal` (Deno Sandbox's `KillController`).
 *
 * @example
 *   import { KillController } from "atoll";
 *   const controller = new KillController();
 *   const running = sandbox.sh`sleep 60`.signal(controller.signal).noThrow();
 *   controller.kill();                  // SIGTERM
 *   console.log((await running).status.code); // 143
 */
export class KillController {
  readonly #state: KillState = { abortedCode: undefined, listeners: [] };
  readonly #signal = new KillSignal(privateKey, this.#state);

  /** The KillSignal to hand to commands. @example sandbox.sh`make`.signal(controller.signal) */
  get signal(): KillSignal {
    return this.#signal;
  }

  /** Sends `signal` (default SIGTERM) to every command using this controller's signal. @example controller.kill("SIGINT"); */
  kill(signal = "SIGTERM"): void {
    send(this.#state, signal);
  }
}
