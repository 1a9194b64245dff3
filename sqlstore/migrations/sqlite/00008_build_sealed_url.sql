-- +goose Up
-- The git URL of a build as given, sealed by the control plane when it holds credentials
-- (source_url then holds the URL without them). Rows written before keep their URL in
-- source_url until the control plane seals it at start.
ALTER TABLE builds ADD COLUMN source_sealed_url TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE builds DROP COLUMN source_sealed_url;
