-- +goose Up
-- AppendEvent updates this one row before inserting, in the same transaction. The row
-- lock makes concurrent appends commit in the order of their event IDs, so a client that
-- resumes after the last ID it saw never misses an event that committed late with a
-- smaller ID. (SQLite serialises writers anyway; PostgreSQL needs the lock.)
CREATE TABLE event_append_lock (
    id       INTEGER PRIMARY KEY,
    appended BIGINT  NOT NULL
);
INSERT INTO event_append_lock (id, appended) VALUES (1, 0);

-- +goose Down
DROP TABLE event_append_lock;
