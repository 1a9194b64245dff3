-- +goose Up
-- Which namespace uploaded which source archive. Archives are stored once per content
-- (by sha256), but a namespace may deploy only an archive it uploaded itself; deleting
-- the namespace forgets its uploads.
CREATE TABLE source_uploads (
    namespace  TEXT   NOT NULL REFERENCES namespaces (name) ON DELETE CASCADE,
    digest     TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (namespace, digest)
);
-- An archive a namespace has built from, it uploaded.
INSERT INTO source_uploads (namespace, digest, created_at)
    SELECT namespace, source_archive, MIN(created_at) FROM builds
    WHERE source_kind = 'archive' AND source_archive <> ''
    GROUP BY namespace, source_archive;

-- +goose Down
DROP TABLE source_uploads;
