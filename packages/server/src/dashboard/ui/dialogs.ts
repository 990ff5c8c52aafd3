/** The confirmation dialog of every destructive action, and short notices (toasts). */
import { h } from "./dom.js";
import { AtollError, ServerError } from "./errors.js";

export interface ConfirmOptions {
  title: string;
  body: string;
  confirmLabel: string;
  /** Runs on confirm; a thrown AtollError is shown in the dialog, which stays open. */
  run: () => Promise<void>;
  /** Offered when `run` fails with one of `codes`: e.g. a forced delete after VOLUME_IN_USE. */
  force?: { codes: string[]; label: string; run: () => Promise<void> };
  done: string;
}

/**
 * Opens a modal dialog: Cancel, or confirm → run. While running, the buttons are disabled. A
 * refusal (the daemon's message, e.g. "Volume x is attached to sbx_… Detach it first…") is shown
 * in the dialog; if it is one the action can override, a second, clearly labelled button offers
 * the forced variant.
 */
export function confirmAction(opts: ConfirmOptions): HTMLDialogElement {
  const error = h("p", { class: "error", role: "alert", hidden: true });
  const cancel = h("button", { type: "button", class: "secondary", "data-action": "cancel" }, "Cancel");
  const ok = h("button", { type: "button", class: "danger", "data-action": "confirm" }, opts.confirmLabel);
  const forceBtn = h("button", { type: "button", class: "danger", "data-action": "force", hidden: true }, opts.force?.label ?? "");
  const dialog = h(
    "dialog",
    { class: "confirm", "aria-labelledby": "dialog-title" },
    h("h2", { id: "dialog-title" }, opts.title),
    h("p", {}, opts.body),
    error,
    h("div", { class: "buttons" }, cancel, forceBtn, ok),
  );
  const busy = (on: boolean) => {
    for (const b of [cancel, ok, forceBtn]) b.disabled = on;
  };
  const attempt = async (fn: () => Promise<void>) => {
    busy(true);
    error.hidden = true;
    try {
      await fn();
      dialog.close();
      toast(opts.done);
    } catch (err) {
      const e = err instanceof AtollError ? err : new ServerError("INTERNAL", String(err));
      error.textContent = e.message;
      error.dataset.code = e.code;
      error.hidden = false;
      if (opts.force?.codes.includes(e.code)) {
        forceBtn.hidden = false;
        ok.hidden = true;
      }
    } finally {
      busy(false);
    }
  };
  cancel.addEventListener("click", () => dialog.close());
  ok.addEventListener("click", () => void attempt(opts.run));
  forceBtn.addEventListener("click", () => void attempt(opts.force!.run));
  dialog.addEventListener("close", () => dialog.remove());
  document.body.appendChild(dialog);
  dialog.showModal();
  cancel.focus();
  return dialog;
}

/** A notice in the corner for a few seconds. */
export function toast(text: string, kind: "ok" | "error" = "ok"): void {
  const box = document.getElementById("toasts");
  if (!box) return;
  const t = h("div", { class: `toast ${kind}` }, text);
  box.appendChild(t);
  window.setTimeout(() => t.remove(), kind === "error" ? 8000 : 4000);
}
