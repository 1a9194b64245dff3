-- +goose Up
-- Alerting (platform.AlertStore). Durations are nanoseconds, times unix microseconds.
-- Rules, channels and silences belong to an organisation; alerts and notifications
-- name their namespace and channel without foreign keys, so the history outlives them.

-- A user rule; the built-in rules are implicit and not stored.
CREATE TABLE alert_rules (
    id          TEXT    PRIMARY KEY,
    org         TEXT    NOT NULL,
    namespace   TEXT    NOT NULL DEFAULT '',
    name        TEXT    NOT NULL,
    kind        TEXT    NOT NULL,
    service     TEXT    NOT NULL DEFAULT '',
    op          TEXT    NOT NULL DEFAULT '',
    threshold   REAL    NOT NULL DEFAULT 0,
    window_ns   BIGINT  NOT NULL DEFAULT 0,
    for_ns      BIGINT  NOT NULL DEFAULT 0,
    severity    TEXT    NOT NULL,
    repeat_ns   BIGINT  NOT NULL DEFAULT 0,
    disabled    BOOLEAN NOT NULL DEFAULT FALSE,
    created_at  BIGINT  NOT NULL
);
CREATE INDEX alert_rules_org ON alert_rules (org, created_at);

-- A notification channel; secret is sealed by the control plane. config, namespaces
-- and services are JSON ('' when empty).
CREATE TABLE alert_channels (
    id           TEXT   PRIMARY KEY,
    org          TEXT   NOT NULL,
    name         TEXT   NOT NULL,
    kind         TEXT   NOT NULL,
    config       TEXT   NOT NULL DEFAULT '',
    secret       TEXT   NOT NULL DEFAULT '',
    namespaces   TEXT   NOT NULL DEFAULT '',
    services     TEXT   NOT NULL DEFAULT '',
    min_severity TEXT   NOT NULL DEFAULT '',
    created_at   BIGINT NOT NULL,
    UNIQUE (org, name)
);

CREATE TABLE silences (
    id         TEXT   PRIMARY KEY,
    org        TEXT   NOT NULL,
    namespace  TEXT   NOT NULL DEFAULT '',
    service    TEXT   NOT NULL DEFAULT '',
    rule       TEXT   NOT NULL DEFAULT '',
    until      BIGINT NOT NULL,
    comment    TEXT   NOT NULL DEFAULT '',
    created_by TEXT   NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL
);
CREATE INDEX silences_org ON silences (org, until);

-- One row per alert key, kept across incidents. version increases with every write:
-- writers compare and set it.
CREATE TABLE alerts (
    id               TEXT   PRIMARY KEY,
    org              TEXT   NOT NULL,
    alert_key        TEXT   NOT NULL UNIQUE,
    rule_id          TEXT   NOT NULL DEFAULT '',
    rule             TEXT   NOT NULL DEFAULT '',
    kind             TEXT   NOT NULL DEFAULT '',
    severity         TEXT   NOT NULL DEFAULT '',
    namespace        TEXT   NOT NULL,
    service          TEXT   NOT NULL DEFAULT '',
    region           TEXT   NOT NULL DEFAULT '',
    state            TEXT   NOT NULL,
    summary          TEXT   NOT NULL DEFAULT '',
    reason           TEXT   NOT NULL DEFAULT '',
    since            BIGINT NOT NULL,
    fired_at         BIGINT,
    resolved_at      BIGINT,
    last_notified_at BIGINT,
    repeat_ns        BIGINT NOT NULL DEFAULT 0,
    clearing_since   BIGINT,
    version          BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX alerts_org ON alerts (org, since);
CREATE INDEX alerts_state ON alerts (state);

-- The outbox and history of notifications. A claim sets lease_owner and lease_until
-- (0: not leased); the dispatcher claims pending and failed rows that are due.
CREATE TABLE notifications (
    id              TEXT    PRIMARY KEY,
    org             TEXT    NOT NULL,
    alert_id        TEXT    NOT NULL DEFAULT '',
    channel_id      TEXT    NOT NULL,
    kind            TEXT    NOT NULL,
    alert_key       TEXT    NOT NULL DEFAULT '',
    rule            TEXT    NOT NULL DEFAULT '',
    severity        TEXT    NOT NULL DEFAULT '',
    namespace       TEXT    NOT NULL DEFAULT '',
    service         TEXT    NOT NULL DEFAULT '',
    region          TEXT    NOT NULL DEFAULT '',
    summary         TEXT    NOT NULL DEFAULT '',
    reason          TEXT    NOT NULL DEFAULT '',
    since           BIGINT  NOT NULL,
    status          TEXT    NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT    NOT NULL DEFAULT '',
    next_attempt_at BIGINT  NOT NULL,
    lease_owner     TEXT    NOT NULL DEFAULT '',
    lease_until     BIGINT  NOT NULL DEFAULT 0,
    created_at      BIGINT  NOT NULL,
    sent_at         BIGINT
);
CREATE INDEX notifications_due ON notifications (status, next_attempt_at);
CREATE INDEX notifications_org ON notifications (org, created_at);
CREATE INDEX notifications_alert ON notifications (alert_id, created_at);

-- Where a reader of the event log is: the last event ID it processed.
CREATE TABLE alert_cursors (
    name     TEXT   PRIMARY KEY,
    position BIGINT NOT NULL
);

-- +goose Down
DROP TABLE alert_cursors;
DROP TABLE notifications;
DROP TABLE alerts;
DROP TABLE silences;
DROP TABLE alert_channels;
DROP TABLE alert_rules;
