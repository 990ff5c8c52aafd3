import type { Sandbox } from "atoll";

/** First line a held-open probe prints (it keeps running, holding what it took). */
export async function startHolding(sb: Sandbox, script: string, args: string[]): Promise<{ line: string; stop: () => void }> {
  const child = await sb.spawn("python3", { args: ["-c", script, ...args], stdout: "piped" });
  const reader = child.stdout!.getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) break;
    text += new TextDecoder().decode(value);
  }
  return { line: text.trim(), stop: () => child.kill("SIGKILL") };
}
