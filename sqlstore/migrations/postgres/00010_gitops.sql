-- +goose Up
-- The sha256 of a build's artifact ("sha256:HEX"), copied to its releases once it
-- succeeds, so that a rollback can redeploy exactly what ran before. Rows written before
-- digests existed get ''.
ALTER TABLE builds ADD COLUMN digest TEXT NOT NULL DEFAULT '';
ALTER TABLE releases ADD COLUMN digest TEXT NOT NULL DEFAULT '';
-- The percent of the gateway's calls a canary release takes (0: an ordinary release),
-- and what made the release (a JSON platform.ReleaseOrigin; NULL for releases recorded
-- before origins).
ALTER TABLE releases ADD COLUMN canary INTEGER NOT NULL DEFAULT 0;
ALTER TABLE releases ADD COLUMN origin TEXT;

-- A branch of a GitHub repository linked to a namespace. A namespace links a repository
-- and branch once; two namespaces may link the same one. Deleting the namespace deletes
-- its links, and with them their deliveries and previews.
CREATE TABLE repo_links (
    id             TEXT    PRIMARY KEY,
    org            TEXT    NOT NULL,
    namespace      TEXT    NOT NULL REFERENCES namespaces (name) ON DELETE CASCADE,
    repo           TEXT    NOT NULL,
    branch         TEXT    NOT NULL,
    path           TEXT    NOT NULL DEFAULT '',
    clone_url      TEXT    NOT NULL DEFAULT '',
    webhook_secret TEXT    NOT NULL DEFAULT '',
    hook_id        BIGINT  NOT NULL DEFAULT 0,
    previews       BOOLEAN NOT NULL DEFAULT FALSE,
    created_by     TEXT    NOT NULL DEFAULT '',
    created_at     BIGINT  NOT NULL,
    UNIQUE (namespace, repo, branch)
);
CREATE INDEX repo_links_org ON repo_links (org, created_at);

-- Webhook deliveries, keyed by GitHub's delivery id so that a retry is recorded once. A
-- body hash is unique: the same signed body under another delivery id is a replay. The
-- body is kept as received (BYTEA here, BLOB on SQLite) for the worker.
CREATE TABLE deliveries (
    id          TEXT    PRIMARY KEY,
    link_id     TEXT    NOT NULL REFERENCES repo_links (id) ON DELETE CASCADE,
    event       TEXT    NOT NULL,
    action      TEXT    NOT NULL DEFAULT '',
    body_hash   TEXT    NOT NULL UNIQUE,
    body        BYTEA   NOT NULL,
    status      TEXT    NOT NULL,
    error       TEXT    NOT NULL DEFAULT '',
    attempts    INTEGER NOT NULL DEFAULT 0,
    received_at BIGINT  NOT NULL,
    done_at     BIGINT
);
CREATE INDEX deliveries_status ON deliveries (status, received_at);
CREATE INDEX deliveries_link ON deliveries (link_id, received_at);

-- The preview namespace of a pull request of a linked repository. Deleting the preview
-- namespace or the link deletes the record.
CREATE TABLE previews (
    namespace   TEXT   PRIMARY KEY REFERENCES namespaces (name) ON DELETE CASCADE,
    org         TEXT   NOT NULL,
    link_id     TEXT   NOT NULL REFERENCES repo_links (id) ON DELETE CASCADE,
    pr          BIGINT NOT NULL,
    head_commit TEXT   NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL,
    UNIQUE (link_id, pr)
);
CREATE INDEX previews_org ON previews (org, namespace);

-- +goose Down
DROP TABLE previews;
DROP TABLE deliveries;
DROP TABLE repo_links;
ALTER TABLE releases DROP COLUMN origin;
ALTER TABLE releases DROP COLUMN canary;
ALTER TABLE releases DROP COLUMN digest;
ALTER TABLE builds DROP COLUMN digest;
