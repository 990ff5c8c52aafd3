/**
 * Socket buffer memory of a sandbox (issue 10, item 6).
 *
 * cgroup v2 charges socket buffers to memory.max: nothing to do. cgroup v1 does not charge them
 * at all unless `memory.kmem.tcp.limit_in_bytes` is set, which turns on socket accounting for
 * that cgroup and caps it: without it a 256 MiB sandbox pinned 634 MiB of TCP buffers, and 200
 * connection pairs pushed the host's TCP memory past `tcp_mem`. A sandbox's cap is a quarter of
 * its memory limit (at least 16 MiB) and never more than an eighth of the host's TCP pressure
 * threshold (`tcp_mem[1]`), so one sandbox alone cannot bring the host's TCP into pressure.
 */
import { readFileSync } from "node:fs";

const MIB = 2 ** 20;
const PAGE = 4096;

/** The host's TCP memory pressure threshold in bytes (tcp_mem[1]), or undefined. */
export function tcpPressureBytes(tcpMem = readTcpMem()): number | undefined {
  const pressure = Number(tcpMem?.trim().split(/\s+/)[1]);
  return Number.isFinite(pressure) && pressure > 0 ? pressure * PAGE : undefined;
}

function readTcpMem(): string | undefined {
  try {
    return readFileSync("/proc/sys/net/ipv4/tcp_mem", "utf8");
  } catch {
    return undefined;
  }
}

/** Socket buffer cap (bytes) of a sandbox with `memoryBytes` of memory (cgroup v1). */
export function socketMemoryLimit(memoryBytes: number, pressureBytes = tcpPressureBytes()): number {
  const quarter = Math.max(16 * MIB, Math.floor(memoryBytes / 4));
  const capped = pressureBytes === undefined ? quarter : Math.min(quarter, Math.floor(pressureBytes / 8));
  return Math.floor(capped / PAGE) * PAGE;
}
