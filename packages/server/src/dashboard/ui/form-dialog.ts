/** A modal dialog with a small form (a name, a size): the daemon's refusal shows inside it, which stays open. */
import { toast } from "./dialogs.js";
import { h } from "./dom.js";
import { AtollError, ServerError } from "./errors.js";

export interface FormField {
  name: string;
  label: string;
  /** Input attributes: type, value, min, max, pattern, … */
  attrs: Record<string, string | number | boolean>;
}

export interface FormDialogOptions {
  title: string;
  body: string;
  fields: FormField[];
  submitLabel: string;
  /** Runs on submit with the fields' values; returns the notice shown once it is done. */
  run: (values: Record<string, string>) => Promise<string>;
}

/** Opens the dialog; Cancel closes it, submit runs `run` and closes on success. */
export function formDialog(opts: FormDialogOptions): HTMLDialogElement {
  const inputs = opts.fields.map((f) => h("input", { name: f.name, "aria-label": f.label, required: true, ...f.attrs }));
  const error = h("p", { class: "error", role: "alert", hidden: true });
  const cancel = h("button", { type: "button", class: "secondary", "data-action": "cancel" }, "Cancel");
  const ok = h("button", { type: "submit", class: "primary", "data-action": "confirm" }, opts.submitLabel);
  const form = h(
    "form",
    { class: "dialog-form" },
    ...opts.fields.map((f, i) => h("label", {}, `${f.label} `, inputs[i]!)),
    error,
    h("div", { class: "buttons" }, cancel, ok),
  );
  const dialog = h("dialog", { class: "confirm", "aria-labelledby": "dialog-title" }, h("h2", { id: "dialog-title" }, opts.title), h("p", {}, opts.body), form);
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    ok.disabled = cancel.disabled = true;
    error.hidden = true;
    const values = Object.fromEntries(inputs.map((i) => [i.name, i.value.trim()]));
    opts
      .run(values)
      .then((done) => {
        dialog.close();
        toast(done);
      })
      .catch((err: unknown) => {
        const e = err instanceof AtollError ? err : new ServerError("INTERNAL", String(err));
        error.textContent = e.message;
        error.dataset.code = e.code;
        error.hidden = false;
      })
      .finally(() => (ok.disabled = cancel.disabled = false));
  });
  cancel.addEventListener("click", () => dialog.close());
  dialog.addEventListener("close", () => dialog.remove());
  document.body.appendChild(dialog);
  dialog.showModal();
  inputs[0]?.focus();
  return dialog;
}
