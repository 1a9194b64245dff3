-- +goose Up
-- Placement: the regions a namespace's services default to, a service's regions and the
-- regions a release was deployed with, each a JSON array of region names ('' for none,
-- as tokens.namespaces).
ALTER TABLE namespaces ADD COLUMN regions TEXT NOT NULL DEFAULT '';
ALTER TABLE services ADD COLUMN regions TEXT NOT NULL DEFAULT '';
ALTER TABLE releases ADD COLUMN regions TEXT NOT NULL DEFAULT '';

-- The region an instance runs in. Every instance observed before regions existed ran in
-- the control plane's own region, "local". Instance IDs are unique across regions, so the
-- primary key stays (namespace, service, id).
ALTER TABLE instances ADD COLUMN region TEXT NOT NULL DEFAULT 'local';

-- The region an event happened in, for events a region reported ('' otherwise).
ALTER TABLE events ADD COLUMN region TEXT NOT NULL DEFAULT '';

-- The hex SHA-256 of the token a region's agent presents ('' when none was issued), and
-- when it was last connected (unix microseconds) with which agent version. A hash names
-- at most one region.
ALTER TABLE regions ADD COLUMN token_hash TEXT NOT NULL DEFAULT '';
ALTER TABLE regions ADD COLUMN last_seen BIGINT;
ALTER TABLE regions ADD COLUMN agent_version TEXT NOT NULL DEFAULT '';
CREATE UNIQUE INDEX regions_token_hash ON regions (token_hash) WHERE token_hash <> '';

-- +goose Down
DROP INDEX regions_token_hash;
ALTER TABLE regions DROP COLUMN agent_version;
ALTER TABLE regions DROP COLUMN last_seen;
ALTER TABLE regions DROP COLUMN token_hash;
ALTER TABLE events DROP COLUMN region;
ALTER TABLE instances DROP COLUMN region;
ALTER TABLE releases DROP COLUMN regions;
ALTER TABLE services DROP COLUMN regions;
ALTER TABLE namespaces DROP COLUMN regions;
