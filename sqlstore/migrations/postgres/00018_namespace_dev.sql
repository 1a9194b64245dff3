-- +goose Up
-- A namespace's dev mode (platform.Namespace.Dev, `platform namespaces create --dev`):
-- its releases are built without debug information and replace the running one without
-- MinReady or the drain delay. Every namespace made before is an ordinary one.
ALTER TABLE namespaces ADD COLUMN dev BOOLEAN NOT NULL DEFAULT FALSE;

-- +goose Down
ALTER TABLE namespaces DROP COLUMN dev;
