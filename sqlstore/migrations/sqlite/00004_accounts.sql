-- +goose Up
-- Organisations own namespaces and have members. The embedded default has one, named
-- "default"; every namespace created before organisations existed belongs to it.
CREATE TABLE orgs (
    name         TEXT   PRIMARY KEY,
    display_name TEXT   NOT NULL DEFAULT '',
    created_at   BIGINT NOT NULL
);
INSERT INTO orgs (name, display_name, created_at) VALUES ('default', 'Default', CAST(strftime('%s','now') AS INTEGER) * 1000000);

-- No foreign key: SQLite cannot add a column with one and a non-NULL default. The store
-- checks the org exists when it creates a namespace.
ALTER TABLE namespaces ADD COLUMN org TEXT NOT NULL DEFAULT 'default';
CREATE INDEX namespaces_org ON namespaces (org, name);

-- github_id is NULL for local users; logins and GitHub ids are unique.
CREATE TABLE users (
    id         TEXT    PRIMARY KEY,
    login      TEXT    NOT NULL UNIQUE,
    name       TEXT    NOT NULL DEFAULT '',
    email      TEXT    NOT NULL DEFAULT '',
    source     TEXT    NOT NULL,
    github_id  BIGINT  UNIQUE,
    disabled   BOOLEAN NOT NULL DEFAULT FALSE,
    deleted_at BIGINT,
    created_at BIGINT  NOT NULL,
    updated_at BIGINT  NOT NULL
);
-- The first owner: tokens made before accounts existed (and the admin token the server
-- prints at first start) belong to this local user.
INSERT INTO users (id, login, name, source, created_at, updated_at)
    VALUES ('u-admin', 'admin', 'First owner', 'local', CAST(strftime('%s','now') AS INTEGER) * 1000000, CAST(strftime('%s','now') AS INTEGER) * 1000000);

CREATE TABLE memberships (
    org        TEXT   NOT NULL REFERENCES orgs (name) ON DELETE CASCADE,
    user_id    TEXT   NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role       TEXT   NOT NULL,
    source     TEXT   NOT NULL,
    teams      TEXT   NOT NULL DEFAULT '',
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (org, user_id)
);
CREATE INDEX memberships_user ON memberships (user_id);
INSERT INTO memberships (org, user_id, role, source, updated_at)
    VALUES ('default', 'u-admin', 'owner', 'local', CAST(strftime('%s','now') AS INTEGER) * 1000000);

-- Existing tokens become the first owner's: admin tokens with the owner role over every
-- namespace, namespace tokens with the developer role over their namespaces (what they
-- could do before roles).
ALTER TABLE tokens ADD COLUMN kind TEXT NOT NULL DEFAULT 'api';
ALTER TABLE tokens ADD COLUMN user_id TEXT NOT NULL DEFAULT '';
ALTER TABLE tokens ADD COLUMN org TEXT NOT NULL DEFAULT 'default';
ALTER TABLE tokens ADD COLUMN role TEXT NOT NULL DEFAULT '';
UPDATE tokens SET user_id = 'u-admin', role = CASE WHEN admin THEN 'owner' ELSE 'developer' END;
CREATE INDEX tokens_user ON tokens (user_id, org);

CREATE TABLE github_links (
    org        TEXT NOT NULL REFERENCES orgs (name) ON DELETE CASCADE,
    github_org TEXT NOT NULL,
    team       TEXT NOT NULL,
    role       TEXT NOT NULL,
    PRIMARY KEY (org, github_org, team)
);

-- Append-only: the store has no statement that updates or deletes a row here.
CREATE TABLE audit_log (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    org        TEXT   NOT NULL,
    actor      TEXT   NOT NULL DEFAULT '',
    actor_id   TEXT   NOT NULL DEFAULT '',
    token_id   TEXT   NOT NULL DEFAULT '',
    action     TEXT   NOT NULL,
    target     TEXT   NOT NULL DEFAULT '',
    outcome    TEXT   NOT NULL,
    source     TEXT   NOT NULL DEFAULT '',
    detail     TEXT   NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL
);
CREATE INDEX audit_log_org_id ON audit_log (org, id);

-- +goose Down
DROP TABLE audit_log;
DROP TABLE github_links;
DROP INDEX tokens_user;
ALTER TABLE tokens DROP COLUMN role;
ALTER TABLE tokens DROP COLUMN org;
ALTER TABLE tokens DROP COLUMN user_id;
ALTER TABLE tokens DROP COLUMN kind;
DROP TABLE memberships;
DROP TABLE users;
DROP INDEX namespaces_org;
ALTER TABLE namespaces DROP COLUMN org;
DROP TABLE orgs;
