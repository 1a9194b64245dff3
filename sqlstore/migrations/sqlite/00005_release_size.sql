-- +goose Up
-- The size of each instance of a release (platform.Size). Releases recorded before sizes
-- existed get '', which means the default size: what they ran with before.
ALTER TABLE releases ADD COLUMN size TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE releases DROP COLUMN size;
