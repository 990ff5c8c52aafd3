/**
 * The program a Deno REPL runs in the sandbox (`sandbox.deno.repl()`): `deno eval` of this source.
 * It reads one JSON request per line on stdin — `{ id, op: "eval", code }` or
 * `{ id, op: "call", fn, args }` — handles them in order and answers each with one line on stdout,
 * `\x1e<token> {"id":…,"value":…}` or `{"id":…,"error":{…}}`, values in deno-values.ts's encoding.
 * The token is random per REPL, so what the user's code prints is never taken for an answer.
 *
 * How code is evaluated: as a classic script in the REPL's global scope (`node:vm`
 * runInThisContext), so `const`, `let`, functions and classes persist from one eval to the next
 * and the completion value is the result; a promise result is awaited. Code that is not a valid
 * script — TypeScript syntax, top-level `await`, `import` — is run as a TypeScript module
 * instead (an expression's value, or undefined for statements): its declarations stay inside it.
 */
import { decodeValue, encodeValue } from "./deno-values.js";

interface DenoGlobal {
  stdin: { readable: AsyncIterable<Uint8Array> };
}

/** The driver's entry point. Runs inside Deno: only globals, encodeValue and decodeValue. */
async function driverMain(token: string): Promise<void> {
  const deno = (globalThis as unknown as { Deno: DenoGlobal }).Deno;
  const vm = (await import("node:vm" as string)) as { runInThisContext(code: string): unknown };
  const reply = (message: unknown) => console.log(`\u001e${token} ${JSON.stringify(message)}`);
  const moduleUrl = (code: string) => {
    let binary = "";
    for (const byte of new TextEncoder().encode(code)) binary += String.fromCharCode(byte);
    return `data:application/typescript;base64,${btoa(binary)}`;
  };
  const isSyntaxError = (e: unknown) => e instanceof SyntaxError || (e instanceof Error && /^SyntaxError|Expected|Unexpected/.test(e.message));
  const evaluate = async (code: string): Promise<unknown> => {
    try {
      return await vm.runInThisContext(code);
    } catch (e) {
      if (!(e instanceof SyntaxError)) throw e;
    }
    try {
      return (await import(moduleUrl(`export default (${code}\n);`))).default;
    } catch (e) {
      if (!isSyntaxError(e)) throw e;
    }
    await import(moduleUrl(code));
    return undefined;
  };
  const handle = async (line: string) => {
    let id: unknown = null;
    try {
      const request = JSON.parse(line) as { id: number; op: string; code?: string; fn?: string; args?: unknown };
      id = request.id;
      let value: unknown;
      if (request.op === "eval") value = await evaluate(String(request.code));
      else if (request.op === "call") {
        const fn = await evaluate(String(request.fn));
        if (typeof fn !== "function") throw new TypeError(`${request.fn} is not a function`);
        value = await fn(...(decodeValue(request.args) as unknown[]));
      } else throw new TypeError(`unknown request ${request.op}`);
      reply({ id, value: encodeValue(value) });
    } catch (e) {
      const err = e instanceof Error ? e : new Error(String(e));
      reply({ id, error: { name: err.name, message: err.message, stack: err.stack ?? "" } });
    }
  };
  const decoder = new TextDecoder();
  let pending = "";
  for await (const chunk of deno.stdin.readable) {
    pending += decoder.decode(chunk, { stream: true });
    for (let nl = pending.indexOf("\n"); nl >= 0; nl = pending.indexOf("\n")) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      if (line.trim()) await handle(line);
    }
  }
}

/** The source `deno eval` runs for a REPL answering with `token`. */
export function replDriverSource(token: string): string {
  return [
    `const encodeValue = ${encodeValue.toString()};`,
    `const decodeValue = ${decodeValue.toString()};`,
    `await (${driverMain.toString()})(${JSON.stringify(token)});`,
  ].join("\n");
}

/** The prefix of the driver's answer lines for `token`. */
export function answerPrefix(token: string): string {
  return `\u001e${token} `;
}
