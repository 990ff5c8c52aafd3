/** The two HTML documents the daemon serves: the dashboard shell and the login page. */

const ASSETS = "/ui/assets";

/** Escapes text for HTML element content and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}

const head = (title: string) => `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>${escapeHtml(title)}</title>
<link rel="icon" href="${ASSETS}/icon.svg" type="image/svg+xml">
<link rel="stylesheet" href="${ASSETS}/style.css">`;

/**
 * The single page of the dashboard; `main.js` renders the views into `#view` from the event
 * stream and routes on the URL hash (#/volumes, #/volumes/ID, #/snapshots, #/sandboxes, #/sandboxes/ID).
 */
export function appPage(version: string, daemonLine = ""): string {
  return `${head("Atoll")}
<script type="module" src="${ASSETS}/main.js"></script>
</head>
<body>
<header class="top">
  <a class="brand" href="#/volumes"><img src="${ASSETS}/icon.svg" alt="" width="22" height="22"> Atoll</a>
  <nav>
    <a href="#/volumes" data-nav="volumes">Volumes</a>
    <a href="#/snapshots" data-nav="snapshots">Snapshots</a>
    <a href="#/sandboxes" data-nav="sandboxes">Sandboxes</a>
    <a href="#/audit" data-nav="audit">Audit</a>
  </nav>
  <span id="live" class="live" title="Live updates">connecting…</span>
  <form method="post" action="/logout" class="logout"><button type="submit" class="link">Log out</button></form>
</header>
<main id="view" aria-live="polite"><p class="muted">Loading…</p></main>
<footer class="foot muted">Atoll ${escapeHtml(version)}${daemonLine ? ` · ${daemonLine}` : ""}</footer>
<div id="toasts" class="toasts" role="status"></div>
</body>
</html>
`;
}

/** The login form; `error` is shown above it (escaped). */
export function loginPage(error?: string): string {
  return `${head("Atoll · log in")}
</head>
<body class="login-body">
<main class="login">
  <h1><img src="${ASSETS}/icon.svg" alt="" width="32" height="32"> Atoll</h1>
  <p class="muted">Paste the daemon's API token. It is in <code>&lt;state-dir&gt;/token</code> (by default <code>/var/lib/atoll/token</code>, readable by root).</p>
  ${error ? `<p class="error" role="alert">${escapeHtml(error)}</p>` : ""}
  <form method="post" action="/login">
    <label for="token">API token</label>
    <input id="token" name="token" type="password" autocomplete="current-password" required autofocus spellcheck="false">
    <button type="submit" class="primary">Log in</button>
  </form>
  <p class="muted small">The page keeps a session cookie (12 hours), never the token itself.</p>
</main>
</body>
</html>
`;
}

/** Headers of every HTML response: no caching, no framing, scripts and styles from this origin only. */
export const HTML_HEADERS = {
  "content-type": "text/html; charset=utf-8",
  "cache-control": "no-store",
  "content-security-policy":
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  "x-frame-options": "DENY",
  "x-content-type-options": "nosniff",
  "referrer-policy": "same-origin",
} as const;
