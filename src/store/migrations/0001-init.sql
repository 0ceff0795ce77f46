-- 0001-init: the first schema of the state store (docs/internals/STORE.md).
-- Ids are lowercase UUID text; times are INTEGER milliseconds since the epoch (UTC); JSON
-- columns hold compact JSON text. Every tenant table carries organization_id, and every
-- tenant query filters on it. STRICT tables make a wrongly typed write fail instead of
-- storing it.

CREATE TABLE organizations (
    id TEXT NOT NULL PRIMARY KEY,
    name TEXT NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE users (
    id TEXT NOT NULL PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    email TEXT NOT NULL,
    name TEXT,
    created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX users_org ON users (organization_id);

-- hash is the SHA-256 hex of the key; the key itself is never stored. revoked_at is NULL
-- while the key is valid.
CREATE TABLE api_keys (
    id TEXT NOT NULL PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    user_id TEXT REFERENCES users (id),
    kind TEXT NOT NULL CHECK (kind IN ('user', 'organization', 'partner', 'system')),
    hash TEXT NOT NULL UNIQUE,
    label TEXT,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
) STRICT;
CREATE INDEX api_keys_list ON api_keys (organization_id, created_at, id);

-- configuration: connector configuration with secrets sealed by the caller; policies: uuid[];
-- created_by/updated_by: {"id","name","type"} actors.
CREATE TABLE connections (
    id TEXT NOT NULL PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    name TEXT NOT NULL,
    type TEXT NOT NULL,
    configuration TEXT,
    status TEXT,
    status_error TEXT,
    policies TEXT,
    healthcheck_interval TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    created_by TEXT,
    updated_by TEXT,
    UNIQUE (organization_id, name)
) STRICT;
CREATE INDEX connections_list ON connections (organization_id, created_at, id);

CREATE TABLE models (
    id TEXT NOT NULL PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    connection_id TEXT NOT NULL REFERENCES connections (id),
    name TEXT NOT NULL,
    type TEXT,
    configuration TEXT,
    fields TEXT,
    doc TEXT,
    version INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    created_by TEXT,
    updated_by TEXT
) STRICT;
CREATE INDEX models_list ON models (organization_id, created_at, id);
CREATE INDEX models_connection ON models (connection_id);

-- Scalar columns for what the API filters or orders on; the rest is configuration (JSON).
-- model_ids (uuid[]) is mirrored row by row into sync_models for the usage checks.
CREATE TABLE syncs (
    id TEXT NOT NULL PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    name TEXT NOT NULL,
    active INTEGER NOT NULL,
    mode TEXT NOT NULL,
    target_connection_id TEXT NOT NULL REFERENCES connections (id),
    target_object TEXT,
    configuration TEXT,
    model_ids TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    created_by TEXT,
    updated_by TEXT
) STRICT;
-- The keyset order of GET /api/syncs: one index range per page, whatever its depth.
CREATE INDEX syncs_list ON syncs (organization_id, updated_at DESC, id DESC);
CREATE INDEX syncs_target ON syncs (target_connection_id);

CREATE TABLE sync_models (
    sync_id TEXT NOT NULL REFERENCES syncs (id) ON DELETE CASCADE,
    model_id TEXT NOT NULL,
    PRIMARY KEY (sync_id, model_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX sync_models_model ON sync_models (model_id);

-- One row per (organization, credential, Idempotency-Key): in_flight while the first request
-- runs, then done with the response to replay. Rows older than 24 h are purged.
CREATE TABLE idempotency_keys (
    organization_id TEXT NOT NULL,
    cred_hash TEXT NOT NULL,
    key TEXT NOT NULL,
    req_hash TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('in_flight', 'done')),
    http_status INTEGER,
    body BLOB,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (organization_id, cred_hash, key)
) STRICT, WITHOUT ROWID;
CREATE INDEX idempotency_keys_age ON idempotency_keys (created_at);

CREATE TABLE meta (
    key TEXT NOT NULL PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;
