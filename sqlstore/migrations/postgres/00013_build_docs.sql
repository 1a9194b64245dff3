-- +goose Up
-- The endpoint docs a build found in its source's handler doc comments (platform.Build's
-- Docs) as a JSON object by endpoint name; '' when it found none, as for every build
-- made before.
ALTER TABLE builds ADD COLUMN docs TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE builds DROP COLUMN docs;
