-- +goose Up
CREATE TABLE regions (
    name             TEXT PRIMARY KEY,
    provider         TEXT NOT NULL,
    location         TEXT NOT NULL DEFAULT '',
    gateway_endpoint TEXT NOT NULL DEFAULT '',
    kubeconfig_ref   TEXT NOT NULL DEFAULT '',
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);

-- +goose Down
DROP TABLE regions;
