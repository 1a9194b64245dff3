-- +goose Up
CREATE TABLE namespaces (
    name       TEXT PRIMARY KEY,
    created_at BIGINT NOT NULL
);

CREATE TABLE services (
    namespace       TEXT    NOT NULL REFERENCES namespaces (name) ON DELETE CASCADE,
    name            TEXT    NOT NULL,
    desired_release TEXT    NOT NULL DEFAULT '',
    current_release TEXT    NOT NULL DEFAULT '',
    status          TEXT    NOT NULL,
    reason          TEXT    NOT NULL DEFAULT '',
    deleted         BOOLEAN NOT NULL DEFAULT FALSE,
    created_at      BIGINT  NOT NULL,
    updated_at      BIGINT  NOT NULL,
    PRIMARY KEY (namespace, name)
);

-- seq numbers the builds and releases of one service in deploy order; it orders
-- per-service listings exactly even when timestamps tie.
CREATE TABLE builds (
    id             TEXT   PRIMARY KEY,
    namespace      TEXT   NOT NULL,
    service        TEXT   NOT NULL,
    seq            BIGINT NOT NULL,
    source_kind    TEXT   NOT NULL,
    source_url     TEXT   NOT NULL DEFAULT '',
    source_ref     TEXT   NOT NULL DEFAULT '',
    source_path    TEXT   NOT NULL DEFAULT '',
    source_archive TEXT   NOT NULL DEFAULT '',
    source_commit  TEXT   NOT NULL DEFAULT '',
    status         TEXT   NOT NULL,
    artifact       TEXT   NOT NULL DEFAULT '',
    error          TEXT   NOT NULL DEFAULT '',
    created_at     BIGINT NOT NULL,
    started_at     BIGINT,
    finished_at    BIGINT,
    FOREIGN KEY (namespace, service) REFERENCES services (namespace, name) ON DELETE CASCADE
);
CREATE INDEX builds_service_seq ON builds (namespace, service, seq);
CREATE INDEX builds_created ON builds (created_at);

CREATE TABLE releases (
    id         TEXT    PRIMARY KEY,
    namespace  TEXT    NOT NULL,
    service    TEXT    NOT NULL,
    seq        BIGINT  NOT NULL,
    version    TEXT    NOT NULL,
    build_id   TEXT    NOT NULL REFERENCES builds (id) ON DELETE CASCADE,
    replicas   INTEGER NOT NULL,
    env        TEXT    NOT NULL DEFAULT '',
    status     TEXT    NOT NULL,
    reason     TEXT    NOT NULL DEFAULT '',
    artifact   TEXT    NOT NULL DEFAULT '',
    created_at BIGINT  NOT NULL,
    updated_at BIGINT  NOT NULL,
    FOREIGN KEY (namespace, service) REFERENCES services (namespace, name) ON DELETE CASCADE,
    UNIQUE (namespace, service, version),
    UNIQUE (namespace, service, seq)
);
CREATE INDEX releases_build ON releases (build_id);

CREATE TABLE instances (
    namespace    TEXT    NOT NULL,
    service      TEXT    NOT NULL,
    id           TEXT    NOT NULL,
    release_id   TEXT    NOT NULL DEFAULT '',
    version      TEXT    NOT NULL DEFAULT '',
    state        TEXT    NOT NULL,
    restarts     INTEGER NOT NULL DEFAULT 0,
    exit_code    INTEGER NOT NULL DEFAULT 0,
    message      TEXT    NOT NULL DEFAULT '',
    registered   BOOLEAN NOT NULL DEFAULT FALSE,
    started_at   BIGINT,
    cpu_percent  DOUBLE PRECISION NOT NULL DEFAULT 0,
    memory_bytes BIGINT  NOT NULL DEFAULT 0,
    PRIMARY KEY (namespace, service, id),
    FOREIGN KEY (namespace, service) REFERENCES services (namespace, name) ON DELETE CASCADE
);

-- Events and usage have no foreign key to namespaces: a namespace.deleted event and a
-- late usage flush must still be accepted after the namespace is gone.
-- DeleteNamespace removes a namespace's events and usage explicitly.
CREATE TABLE events (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    namespace  TEXT   NOT NULL,
    service    TEXT   NOT NULL DEFAULT '',
    type       TEXT   NOT NULL,
    message    TEXT   NOT NULL DEFAULT '',
    data       TEXT   NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL
);
CREATE INDEX events_namespace_id ON events (namespace, id);

CREATE TABLE tokens (
    id         TEXT    PRIMARY KEY,
    name       TEXT    NOT NULL,
    hash       TEXT    NOT NULL UNIQUE,
    admin      BOOLEAN NOT NULL DEFAULT FALSE,
    namespaces TEXT    NOT NULL DEFAULT '',
    created_at BIGINT  NOT NULL,
    expires_at BIGINT
);

CREATE TABLE request_usage (
    namespace          TEXT   NOT NULL,
    service            TEXT   NOT NULL,
    minute             BIGINT NOT NULL,
    requests           BIGINT NOT NULL DEFAULT 0,
    errors             BIGINT NOT NULL DEFAULT 0,
    client_errors      BIGINT NOT NULL DEFAULT 0,
    latency_micros     BIGINT NOT NULL DEFAULT 0,
    max_latency_micros BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (namespace, minute, service)
);

-- +goose Down
DROP TABLE request_usage;
DROP TABLE tokens;
DROP TABLE events;
DROP TABLE instances;
DROP TABLE releases;
DROP TABLE builds;
DROP TABLE services;
DROP TABLE namespaces;
