import { DaemonError } from "../daemon-error.js";
/**
 * Settings of the daemon's HTTP surface (docs/network.md "exposeHttp", docs/api.md "Limits"):
 * where exposed sandbox ports are served, and the per-client caps and timeouts of every
 * listener. From `atoll serve` flags and ATOLL_* variables.
 */
/**
 * How exposed ports are reached.
 * - `loopback` (default): each exposure gets a listener of its own on a fresh address in
 *   127.64.0.0/10, e.g. `http://127.93.4.17:40123/<token>/`. No DNS, one site per exposure.
 * - `domain` (`--expose-domain`): one listener (`--expose-listen`) serves
 *   `<scheme>://<token>.<domain>[:port]/`, for daemons reached from other machines.
 */
export type ExposeConfig =
  | { mode: "loopback" }
  | {
      mode: "domain";
      scheme: "http" | "https";
      domain: string;
      /** The port in URLs: a number, "listener" (the port the listener got), or none (the scheme's default). */
      publicPort: number | "listener" | undefined;
      listenHost: string;
      listenPort: number;
    };

/** Caps and timeouts per client (docs/api.md "Limits"). */
export interface HttpLimits {
  /** Open connections per remote address (IPv6: per /64) on each listener. ATOLL_MAX_CONNECTIONS_PER_ADDRESS, default 4096. */
  connectionsPerAddress: number;
  /** Open session WebSockets per API token (per dashboard login). ATOLL_MAX_SESSIONS_PER_TOKEN, default 2048. */
  sessionsPerToken: number;
  /** The request head must arrive within this. ATOLL_HEADERS_TIMEOUT, default 10s. */
  headersTimeoutMs: number;
  /** Requests without a valid token (/login, /healthz, refused ones) must arrive whole within this. ATOLL_PUBLIC_REQUEST_TIMEOUT, default 10s. */
  publicRequestTimeoutMs: number;
  /** A request to an exposed port (head and body) must arrive within this. ATOLL_EXPOSE_REQUEST_TIMEOUT, default 60s. */
  exposeRequestTimeoutMs: number;
}

export interface WebConfig {
  expose: ExposeConfig;
  limits: HttpLimits;
}

/** Flags of `atoll serve` for the HTTP surface. */
export interface WebFlags {
  exposeDomain?: string;
  exposeListen?: string;
}

export const DEFAULT_EXPOSE_PORT = 7421;

const LABEL = "[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?";
const DOMAIN = new RegExp(`^(?:(https?)://)?(${LABEL}(?:\\.${LABEL})+)(?::(\\d{1,5}))?/?$`);

/**
 * Parses `--expose-domain`: `sbx.example.com`, `https://sbx.example.com` (behind a TLS proxy:
 * URLs without a port) or `http://sbx.example.com:8080` (the port the world uses).
 *
 * @example parseExposeDomain("https://sbx.example.com") // { scheme: "https", domain: "sbx.example.com", publicPort: undefined }
 */
export function parseExposeDomain(text: string): { scheme: "http" | "https"; domain: string; publicPort: number | undefined; explicitScheme: boolean } {
  const m = DOMAIN.exec(text.toLowerCase());
  const port = m?.[3] === undefined ? undefined : Number(m[3]);
  if (!m || (port !== undefined && (port < 1 || port > 65535)) || m[2]!.length > 200) {
    throw new DaemonError(
      "CONFIG_INVALID",
      `--expose-domain must be a DNS name with at least two labels, optionally with http:// or https:// and a port (e.g. sbx.example.com or https://sbx.example.com), got "${text}"`,
    );
  }
  return { scheme: (m[1] as "http" | "https" | undefined) ?? "http", domain: m[2]!, publicPort: port, explicitScheme: m[1] !== undefined };
}

function positiveInt(name: string, raw: string): number {
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 1) throw new DaemonError("CONFIG_INVALID", `${name} must be a whole number of at least 1, got "${raw}"`);
  return n;
}

/** How daemon-config.ts parses `HOST:PORT` and durations (readable Errors naming the setting). */
export interface SettingParsers {
  listen(text: string): { host: string; port: number };
  duration(name: string, text: string): number;
}

/**
 * Resolves the HTTP settings. `apiHost` is the API's listen host: the domain listener
 * defaults to it, port 7421.
 */
export function resolveWebConfig(opts: WebFlags, apiHost: string, parse: SettingParsers, env: NodeJS.ProcessEnv = process.env): WebConfig {
  const duration = parse.duration;
  const domainText = opts.exposeDomain ?? env.ATOLL_EXPOSE_DOMAIN;
  const listenText = opts.exposeListen ?? env.ATOLL_EXPOSE_LISTEN;
  let expose: ExposeConfig = { mode: "loopback" };
  if (domainText) {
    const d = parseExposeDomain(domainText);
    const listen = listenText ? parse.listen(listenText) : { host: apiHost, port: DEFAULT_EXPOSE_PORT };
    // Without a scheme or port in the flag, URLs name the listener's own port.
    const publicPort = d.publicPort ?? (d.explicitScheme ? undefined : "listener");
    expose = { mode: "domain", scheme: d.scheme, domain: d.domain, publicPort, listenHost: listen.host, listenPort: listen.port };
  } else if (listenText) {
    throw new DaemonError("CONFIG_INVALID", "--expose-listen needs --expose-domain (without it every exposed port gets a loopback listener of its own)");
  }
  return {
    expose,
    limits: {
      connectionsPerAddress: positiveInt("ATOLL_MAX_CONNECTIONS_PER_ADDRESS", env.ATOLL_MAX_CONNECTIONS_PER_ADDRESS ?? "4096"),
      sessionsPerToken: positiveInt("ATOLL_MAX_SESSIONS_PER_TOKEN", env.ATOLL_MAX_SESSIONS_PER_TOKEN ?? "2048"),
      headersTimeoutMs: duration("ATOLL_HEADERS_TIMEOUT", env.ATOLL_HEADERS_TIMEOUT ?? "10s"),
      publicRequestTimeoutMs: duration("ATOLL_PUBLIC_REQUEST_TIMEOUT", env.ATOLL_PUBLIC_REQUEST_TIMEOUT ?? "10s"),
      exposeRequestTimeoutMs: duration("ATOLL_EXPOSE_REQUEST_TIMEOUT", env.ATOLL_EXPOSE_REQUEST_TIMEOUT ?? "60s"),
    },
  };
}
