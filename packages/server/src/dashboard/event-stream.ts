import type { ServerResponse } from "node:http";
import type { Logger } from "pino";
import type { OverviewBuilder } from "./overview-builder.js";
import type { Overview, SamplesEvent } from "./snapshot-types.js";

/** One browser tab listening to `GET /ui/events`. */
interface StreamClient {
  res: ServerResponse;
  tenant: string;
  /** Sandbox whose page is open, if any. */
  focus: string | undefined;
  /** Last JSON sent per event name: only changes are sent again. */
  sent: Map<string, string>;
}

/** A client that stops reading is dropped once this much is queued for it. */
const MAX_BUFFERED = 4 * 1024 * 1024;
const HEARTBEAT_MS = 15_000;

/**
 * Server-sent events for the dashboard. While at least one tab listens, every `intervalMs`
 * (and soon after a poke: an API change, a command starting or ending) it builds each tenant's
 * overview once and sends each tab what changed: `overview`, `focus` (the open sandbox page)
 * and `samples` (new usage samples stored). Nothing runs while no tab is open.
 */
export class EventStream {
  private readonly clients = new Set<StreamClient>();
  private timer: NodeJS.Timeout | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private pokeTimer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private closed = false;

  constructor(
    private readonly builder: OverviewBuilder,
    private readonly logger: Logger,
    private readonly intervalMs = 1000,
  ) {}

  /** Takes over a response and streams events on it until the client goes away. */
  open(res: ServerResponse, tenant: string, focus: string | undefined): void {
    res.writeHead(200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-store",
      connection: "keep-alive",
      "x-accel-buffering": "no",
    });
    res.write("retry: 2000\n\n");
    const client: StreamClient = { res, tenant, focus, sent: new Map() };
    this.clients.add(client);
    res.on("close", () => {
      this.clients.delete(client);
      if (this.clients.size === 0) this.idle();
    });
    if (!this.timer) {
      this.timer = setInterval(() => void this.tick(), this.intervalMs);
      this.heartbeat = setInterval(() => this.each((c) => c.res.write(": ping\n\n")), HEARTBEAT_MS);
    }
    this.poke();
  }

  /** Something changed: send fresh figures soon (changes within 50 ms are sent together). */
  poke(): void {
    if (this.clients.size === 0 || this.pokeTimer) return;
    this.pokeTimer = setTimeout(() => {
      this.pokeTimer = undefined;
      void this.tick();
    }, 50);
  }

  /** New usage samples were stored: tabs showing a chart refetch it. */
  samplesStored(): void {
    const data = JSON.stringify({ at: new Date().toISOString() } satisfies SamplesEvent);
    this.each((c) => this.write(c, "samples", data, true));
  }

  /** Daemon shutdown: ends every stream so the HTTP server can close. */
  close(): void {
    this.closed = true;
    this.idle();
    for (const c of this.clients) c.res.end();
    this.clients.clear();
  }

  private idle(): void {
    clearInterval(this.timer);
    clearInterval(this.heartbeat);
    clearTimeout(this.pokeTimer);
    this.timer = this.heartbeat = this.pokeTimer = undefined;
  }

  private tick(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = this.send()
      .catch((err: unknown) => this.logger.warn({ err }, "dashboard events failed"))
      .finally(() => {
        this.running = undefined;
        if (this.again && !this.closed) {
          this.again = false;
          void this.tick();
        }
      });
    return this.running;
  }

  private async send(): Promise<void> {
    const overviews = new Map<string, Overview>();
    for (const c of [...this.clients]) {
      let overview = overviews.get(c.tenant);
      if (!overview) {
        overview = await this.builder.overview(c.tenant);
        overviews.set(c.tenant, overview);
      }
      // `at` changes every time: leave it out of the comparison.
      this.write(c, "overview", JSON.stringify(overview), false, JSON.stringify({ ...overview, at: "" }));
      if (c.focus) {
        const focus = await this.builder.focus(c.tenant, c.focus, overview);
        this.write(c, "focus", JSON.stringify(focus));
      }
    }
  }

  private write(c: StreamClient, event: string, data: string, always = false, compareAs = data): void {
    if (!this.clients.has(c)) return;
    if (!always && c.sent.get(event) === compareAs) return;
    c.sent.set(event, compareAs);
    if (c.res.writableLength > MAX_BUFFERED) {
      c.res.destroy(); // not reading: drop it rather than queue without bound
      return;
    }
    c.res.write(`event: ${event}\ndata: ${data}\n\n`);
  }

  private each(fn: (c: StreamClient) => void): void {
    for (const c of this.clients) fn(c);
  }
}
