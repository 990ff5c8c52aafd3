/**
 * Schema migrations, applied in order; `PRAGMA user_version` records how many ran.
 * Append new ones; never edit one that has shipped.
 */
export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE sandboxes (
    id            TEXT PRIMARY KEY,
    tenant        TEXT NOT NULL DEFAULT 'default',
    state         TEXT NOT NULL CHECK (state IN ('starting', 'running', 'stopped')),
    stop_reason   TEXT,
    created_at    TEXT NOT NULL,
    stopped_at    TEXT,
    timeout       TEXT NOT NULL,
    expires_at    TEXT,
    labels        TEXT NOT NULL DEFAULT '{}',
    env           TEXT NOT NULL DEFAULT '{}',
    memory_bytes  INTEGER NOT NULL,
    pids          INTEGER NOT NULL,
    cpu_weight    INTEGER NOT NULL,
    rootfs_bytes  INTEGER NOT NULL
  );
  CREATE INDEX sandboxes_tenant_state ON sandboxes (tenant, state);

  CREATE TABLE volumes (
    id                TEXT PRIMARY KEY,
    tenant            TEXT NOT NULL DEFAULT 'default',
    name              TEXT NOT NULL,
    size_gb           REAL NOT NULL,
    capacity_bytes    INTEGER NOT NULL,
    state             TEXT NOT NULL CHECK (state IN ('creating', 'ready', 'deleting')),
    created_at        TEXT NOT NULL,
    last_attached_at  TEXT,
    UNIQUE (tenant, name)
  );

  CREATE TABLE attachments (
    sandbox_id   TEXT NOT NULL REFERENCES sandboxes (id) ON DELETE CASCADE,
    volume_id    TEXT NOT NULL REFERENCES volumes (id),
    mount_path   TEXT NOT NULL,
    access_mode  TEXT NOT NULL CHECK (access_mode IN ('rw', 'ro')),
    attached_at  TEXT NOT NULL,
    PRIMARY KEY (sandbox_id, volume_id)
  );
  CREATE INDEX attachments_volume ON attachments (volume_id);
  `,
  // 2: network policy per sandbox (issue 4), usage history and command log for the dashboard (issue 5).
  `
  ALTER TABLE sandboxes ADD COLUMN allow_net TEXT;          -- JSON array of rules; NULL = unrestricted
  ALTER TABLE sandboxes ADD COLUMN network TEXT;            -- JSON: addresses, exposed ports (runtime facts)

  CREATE TABLE volume_usage_samples (
    volume_id   TEXT NOT NULL,
    at          TEXT NOT NULL,
    used_bytes  INTEGER NOT NULL,
    PRIMARY KEY (volume_id, at)
  );

  CREATE TABLE command_log (
    sandbox_id   TEXT NOT NULL,
    seq          INTEGER NOT NULL,
    started_at   TEXT NOT NULL,
    command      TEXT NOT NULL,
    user         TEXT NOT NULL,
    exit_code    INTEGER,
    signal       TEXT,
    oom          INTEGER NOT NULL DEFAULT 0,
    duration_ms  INTEGER,
    PRIMARY KEY (sandbox_id, seq)
  );
  `,
  // 3: tenants and API tokens (issue 7). The token file's token stays the admin token of tenant
  // "default" and is not stored here; these are the extra tokens an admin creates.
  `
  CREATE TABLE tenants (
    name            TEXT PRIMARY KEY,
    max_sandboxes   INTEGER,            -- NULL: no limit
    max_volume_gb   REAL,               -- NULL: no limit (sum of sizeGb of the tenant's volumes)
    created_at      TEXT NOT NULL
  );

  CREATE TABLE tokens (
    id            TEXT PRIMARY KEY,
    tenant        TEXT NOT NULL REFERENCES tenants (name),
    name          TEXT NOT NULL,
    hash          TEXT NOT NULL UNIQUE,  -- sha256 of the token; the token itself is shown once
    admin         INTEGER NOT NULL DEFAULT 0,
    created_at    TEXT NOT NULL,
    last_used_at  TEXT,
    revoked_at    TEXT
  );
  CREATE INDEX tokens_tenant ON tokens (tenant);
  `,
  // 4: dashboard logins kept on the server, so logging out ends a cookie for good (issue 10).
  `
  CREATE TABLE dashboard_sessions (
    id          TEXT PRIMARY KEY,   -- sha256 of the cookie's nonce; the cookie itself is not stored
    token_id    TEXT NOT NULL,      -- "bootstrap" or tokens.id
    expires_at  INTEGER NOT NULL    -- ms since the epoch
  );
  CREATE INDEX dashboard_sessions_token ON dashboard_sessions (token_id);
  `,
  // 5: per-tenant closed ranges an admin opened (issue 10, docs/tenants.md "Network access").
  `
  ALTER TABLE tenants ADD COLUMN net_open TEXT NOT NULL DEFAULT '[]';  -- JSON array: categories or CIDRs
  `,
  // 6: one row per daemon run, for its uptime and the last restart (issue 13, docs/operations.md).
  `
  CREATE TABLE daemon_runs (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    version         TEXT NOT NULL,      -- the atoll release that ran
    pid             INTEGER NOT NULL,
    started_at      TEXT NOT NULL,
    last_seen_at    TEXT NOT NULL,      -- heartbeat: where a run that did not stop cleanly ended, give or take a minute
    stopped_at      TEXT                -- set by a clean stop; NULL: running, or crashed / killed
  );
  `,
  // 7: volume snapshots (issue 14, docs/snapshots.md). A snapshot outlives the volume it was taken of.
  `
  CREATE TABLE snapshots (
    id              TEXT PRIMARY KEY,
    tenant          TEXT NOT NULL,
    name            TEXT NOT NULL,
    volume_id       TEXT NOT NULL,      -- the volume it was taken of (no reference: it may be deleted since)
    volume_name     TEXT NOT NULL,
    size_gb         REAL NOT NULL,      -- the volume's size when taken: what the snapshot counts in quotas
    capacity_bytes  INTEGER NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('creating', 'ready', 'deleting')),
    created_at      TEXT NOT NULL,
    UNIQUE (tenant, name)
  );
  ALTER TABLE volumes ADD COLUMN from_snapshot TEXT;  -- the snapshot a volume was made from (its usedBytes counts what it wrote)
  `,
  // 8: the audit trail (issue 17) of state-changing API calls (docs/operations.md, "Audit trail").
  `
  CREATE TABLE audit_log (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    at        TEXT NOT NULL,
    tenant    TEXT NOT NULL,   -- who acted; "" for a login whose token was not recognised
    token_id  TEXT NOT NULL,   -- "bootstrap", tokens.id, or "" (never a token's value)
    action    TEXT NOT NULL,   -- "sandbox.create", "volume.delete", "login", …
    target    TEXT NOT NULL,   -- what it acted on (ids or names from the route), or ""
    outcome   TEXT NOT NULL    -- "ok" or the error code
  );
  CREATE INDEX audit_log_tenant ON audit_log (tenant, id);
  CREATE INDEX audit_log_at ON audit_log (at);
  `,
  // 9 (issue 14, second part): snapshots mounted read-only in sandboxes. A table of its own, as
  // attachments reference volumes; the reference here makes the store refuse to drop a mounted
  // snapshot's row, a second guard besides the service's SNAPSHOT_IN_USE.
  `
  CREATE TABLE snapshot_mounts (
    sandbox_id   TEXT NOT NULL REFERENCES sandboxes (id) ON DELETE CASCADE,
    snapshot_id  TEXT NOT NULL REFERENCES snapshots (id),
    mount_path   TEXT NOT NULL,
    attached_at  TEXT NOT NULL,
    PRIMARY KEY (sandbox_id, snapshot_id)
  );
  CREATE INDEX snapshot_mounts_snapshot ON snapshot_mounts (snapshot_id);
  `,
  // 10 (issue 14, second part): bootable volumes (made from a builtin image, or from a bootable
  // snapshot) and their snapshots can be a sandbox's root (docs/snapshots.md, "Bootable volumes").
  `
  ALTER TABLE volumes ADD COLUMN bootable INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE snapshots ADD COLUMN bootable INTEGER NOT NULL DEFAULT 0;
  `,
  // 11 (issue 14, image import): the config of an imported OCI image (JSON: Env, WorkingDir and
  // the User resolved at import), kept with the snapshot it became and carried to volumes made
  // from it, honoured when a sandbox boots from either (core/image-defaults.ts). NULL: none.
  `
  ALTER TABLE snapshots ADD COLUMN image_config TEXT;
  ALTER TABLE volumes ADD COLUMN image_config TEXT;
  `,
];
