-- +goose Up
-- Every namespace name ever used, with the organisation that used it first. Names are
-- global and derived credentials follow them (the mesh password is an HMAC of the
-- name; registry repositories are <prefix>/<namespace>/<service>), so a name deleted by
-- one organisation must never be created by another. Rows are never deleted.
CREATE TABLE namespace_names (
    name       TEXT   PRIMARY KEY,
    org        TEXT   NOT NULL,
    created_at BIGINT NOT NULL
);
INSERT INTO namespace_names (name, org, created_at) SELECT name, org, created_at FROM namespaces;

-- +goose Down
DROP TABLE namespace_names;
