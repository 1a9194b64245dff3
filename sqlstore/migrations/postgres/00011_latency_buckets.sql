-- +goose Up
-- A latency histogram for each usage row (platform.RequestUsage.LatencyBuckets): column
-- latency_bucket_NN counts the minute's requests in bucket NN of platform.LatencyBounds
-- (125µs·2^NN), latency_bucket_19 those slower than the last bound. One column per bucket,
-- so that the upsert of AddRequestUsage adds them up in SQL, on both engines. Rows
-- written before the histogram get zeros.
ALTER TABLE request_usage ADD COLUMN latency_bucket_00 BIGINT NOT NULL DEFAULT 0;
ALTER TABLE request_usage ADD COLUMN latency_bucket_01 BIGINT NOT NULL DEFAULT 0;
ALTER TABLE request_usage ADD COLUMN latency_bucket_02 BIGINT NOT NULL DEFAULT 0;
ALTER TABLE request_usage ADD COLUMN latency_bucket_03 BIGINT NOT NULL DEFAULT 0;
ALTER TABLE request_usage ADD COLUMN latency_bucket_04 BIGINT NOT NULL DEFAULT 0;
ALTER TABLE request_usage ADD COLUMN latency_bucket_05 BIGINT NOT NULL DEFAULT 0;
ALTER TABLE request_usage ADD COLUMN latency_bucket_06 BIGINT NOT NULL DEFAULT 0;
ALTER TABLE request_usage ADD COLUMN latency_bucket_07 BIGINT NOT NULL DEFAULT 0;
ALTER TABLE request_usage ADD COLUMN latency_bucket_08 BIGINT NOT NULL DEFAULT 0;
ALTER TABLE request_usage ADD COLUMN latency_bucket_09 BIGINT NOT NULL DEFAULT 0;
ALTER TABLE request_usage ADD COLUMN latency_bucket_10 BIGINT NOT NULL DEFAULT 0;
ALTER TABLE request_usage ADD COLUMN latency_bucket_11 BIGINT NOT NULL DEFAULT 0;
ALTER TABLE request_usage ADD COLUMN latency_bucket_12 BIGINT NOT NULL DEFAULT 0;
ALTER TABLE request_usage ADD COLUMN latency_bucket_13 BIGINT NOT NULL DEFAULT 0;
ALTER TABLE request_usage ADD COLUMN latency_bucket_14 BIGINT NOT NULL DEFAULT 0;
ALTER TABLE request_usage ADD COLUMN latency_bucket_15 BIGINT NOT NULL DEFAULT 0;
ALTER TABLE request_usage ADD COLUMN latency_bucket_16 BIGINT NOT NULL DEFAULT 0;
ALTER TABLE request_usage ADD COLUMN latency_bucket_17 BIGINT NOT NULL DEFAULT 0;
ALTER TABLE request_usage ADD COLUMN latency_bucket_18 BIGINT NOT NULL DEFAULT 0;
ALTER TABLE request_usage ADD COLUMN latency_bucket_19 BIGINT NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE request_usage DROP COLUMN latency_bucket_19;
ALTER TABLE request_usage DROP COLUMN latency_bucket_18;
ALTER TABLE request_usage DROP COLUMN latency_bucket_17;
ALTER TABLE request_usage DROP COLUMN latency_bucket_16;
ALTER TABLE request_usage DROP COLUMN latency_bucket_15;
ALTER TABLE request_usage DROP COLUMN latency_bucket_14;
ALTER TABLE request_usage DROP COLUMN latency_bucket_13;
ALTER TABLE request_usage DROP COLUMN latency_bucket_12;
ALTER TABLE request_usage DROP COLUMN latency_bucket_11;
ALTER TABLE request_usage DROP COLUMN latency_bucket_10;
ALTER TABLE request_usage DROP COLUMN latency_bucket_09;
ALTER TABLE request_usage DROP COLUMN latency_bucket_08;
ALTER TABLE request_usage DROP COLUMN latency_bucket_07;
ALTER TABLE request_usage DROP COLUMN latency_bucket_06;
ALTER TABLE request_usage DROP COLUMN latency_bucket_05;
ALTER TABLE request_usage DROP COLUMN latency_bucket_04;
ALTER TABLE request_usage DROP COLUMN latency_bucket_03;
ALTER TABLE request_usage DROP COLUMN latency_bucket_02;
ALTER TABLE request_usage DROP COLUMN latency_bucket_01;
ALTER TABLE request_usage DROP COLUMN latency_bucket_00;
