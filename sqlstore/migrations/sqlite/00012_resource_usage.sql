-- +goose Up
-- Samples of what a service's instances use (platform.ResourceUsage), summed over its
-- instances in every region: the control plane's last sample of each minute.
CREATE TABLE resource_usage (
    namespace      TEXT   NOT NULL,
    service        TEXT   NOT NULL,
    minute         BIGINT NOT NULL,
    cpu_millicores BIGINT NOT NULL DEFAULT 0,
    memory_bytes   BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (namespace, service, minute)
);

-- +goose Down
DROP TABLE resource_usage;
