/**
 * A TCP connection made from inside a network namespace, through the atoll-nsconnect helper
 * (native/atoll-nsconnect.c): the helper connects there and relays the bytes over its stdio.
 */
import { spawn } from "node:child_process";
import { Duplex } from "node:stream";
import { NetworkError } from "atoll/contract";

/**
 * Connects from namespace `netnsPath` to the first of `addresses` accepting on `port`.
 * Rejects with NetworkError (FETCH_FAILED) when none does.
 *
 * @example const sock = await nsConnect(helper, "/run/netns/atoll-ab12-sbx_x", ["127.0.0.1", "::1"], 3000);
 */
export function nsConnect(helper: string, netnsPath: string, addresses: readonly string[], port: number): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    const child = spawn(helper, [netnsPath, String(port), ...addresses], { stdio: ["pipe", "pipe", "pipe"] });
    let stderr = "";
    let connected = false;
    const fail = (message: string) => {
      if (connected) return;
      connected = true; // settle once
      child.kill("SIGKILL");
      reject(new NetworkError("FETCH_FAILED", message, { port, addresses: [...addresses] }));
    };
    child.on("error", (err) => fail(`cannot start ${helper}: ${err.message}`));
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (text: string) => {
      if (connected) return;
      stderr += text;
      if (stderr.startsWith("OK\n")) {
        connected = true;
        // Errors surface on the duplex; the pipes' own (EPIPE after the relay ended) must not crash the daemon.
        child.stdin.on("error", () => undefined);
        child.stdout.on("error", () => undefined);
        const duplex = Duplex.from({ readable: child.stdout, writable: child.stdin });
        duplex.on("error", () => undefined);
        duplex.on("close", () => child.kill("SIGKILL"));
        // The relay ends when either side closes; a killed helper ends the stream too.
        child.on("exit", () => {
          if (!duplex.destroyed) duplex.push(null);
        });
        resolve(duplex);
      }
    });
    child.on("exit", (code) => {
      const why = stderr.replace(/^atoll-nsconnect: /, "").trim();
      const where = `${addresses.join(" or ")} port ${port}`;
      if (code === 3) fail(`Connection refused by ${where} in the sandbox's network: is a server listening there?`);
      else fail(`Cannot connect to ${where} from the sandbox's network: ${why || `helper exited with ${code}`}`);
    });
  });
}
