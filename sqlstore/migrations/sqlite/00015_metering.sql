-- +goose Up
-- The metering pipeline (platform.MeteringStore). Hours are unix microseconds of the
-- start of an hour in UTC.

-- The usage of one meter by one service of a namespace in one region during one hour:
-- the sum of the quantities of the distinct events counted in it. Rows are keyed by
-- organisation and hour first, the order invoices read them in.
CREATE TABLE usage_rollups (
    org       TEXT   NOT NULL,
    hour      BIGINT NOT NULL,
    namespace TEXT   NOT NULL,
    service   TEXT   NOT NULL DEFAULT '',
    region    TEXT   NOT NULL DEFAULT '',
    meter     TEXT   NOT NULL,
    quantity  BIGINT NOT NULL,
    PRIMARY KEY (org, hour, namespace, service, region, meter)
);
CREATE INDEX usage_rollups_namespace ON usage_rollups (namespace, hour);
CREATE INDEX usage_rollups_hour ON usage_rollups (hour);

-- The position of each stream folded into the rollups: the sequence of the last
-- message counted, moved by compare-and-set in the transaction that counts it.
CREATE TABLE usage_offsets (
    stream     TEXT   PRIMARY KEY,
    position   BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- The IDs of the events counted, by the hour of the event, so that a duplicate counts
-- nothing. Hours before the horizon are deleted (PruneUsageEvents). IDs compare byte by
-- byte (SQLite's default BINARY collation).
CREATE TABLE usage_event_ids (
    hour BIGINT NOT NULL,
    id   TEXT   NOT NULL,
    PRIMARY KEY (hour, id)
) WITHOUT ROWID;

-- One row: the hour before which events are refused as late, because their IDs may
-- have been forgotten. It only moves forward. Commits and prunes both write it, so
-- they serialise on it.
CREATE TABLE usage_horizon (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    hour BIGINT  NOT NULL
);
INSERT INTO usage_horizon (id, hour) VALUES (1, 0);

-- +goose Down
DROP TABLE usage_horizon;
DROP TABLE usage_event_ids;
DROP TABLE usage_offsets;
DROP TABLE usage_rollups;
