-- +goose Up
-- The go-micro scopes a token holds (platform.Token's Scopes) and the tools it is
-- narrowed to (Tools), each a JSON array as namespaces is; '' for none, as for every
-- token made before: such a token holds no scope and may call every tool its role and
-- namespaces allow.
ALTER TABLE tokens ADD COLUMN scopes TEXT NOT NULL DEFAULT '';
ALTER TABLE tokens ADD COLUMN tools TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE tokens DROP COLUMN tools;
ALTER TABLE tokens DROP COLUMN scopes;
