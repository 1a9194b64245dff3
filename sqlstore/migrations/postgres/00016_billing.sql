-- +goose Up
-- Billing (platform.BillingStore). Times are unix microseconds; amounts are integers of
-- the currency's minor unit. Plans and invoice lines are JSON. The plan history and the
-- payment provider's customer belong to an organisation (foreign keys); invoices and the
-- spend thresholds announced name it without one, so the financial history outlives it.

-- An organisation's plan history: each row puts it on plan (as it stood when assigned)
-- from effective_at (to the second) until the next row's. Rows are read ordered by
-- effective_at, then id (the order of assignment).
CREATE TABLE plan_assignments (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org          TEXT   NOT NULL REFERENCES orgs (name) ON DELETE CASCADE,
    plan         TEXT   NOT NULL,
    effective_at BIGINT NOT NULL,
    assigned_by  TEXT   NOT NULL DEFAULT '',
    created_at   BIGINT NOT NULL
);
CREATE INDEX plan_assignments_org ON plan_assignments (org, effective_at, id);

-- Final invoices (a draft is computed, never stored). An invoice is written once and
-- never changed but for its export: status moves from open to exported, and
-- external_id from '' to the payment provider's id, once. One invoice per organisation
-- and period.
CREATE TABLE invoices (
    id           TEXT   PRIMARY KEY,
    org          TEXT   NOT NULL,
    period_start BIGINT NOT NULL,
    period_end   BIGINT NOT NULL,
    currency     TEXT   NOT NULL,
    lines        TEXT   NOT NULL,
    total        BIGINT NOT NULL,
    status       TEXT   NOT NULL,
    external_id  TEXT   NOT NULL DEFAULT '',
    created_at   BIGINT NOT NULL
);
CREATE UNIQUE INDEX invoices_org_period ON invoices (org, period_start);

-- The payment provider's (Stripe's) customer of each organisation.
CREATE TABLE billing_customers (
    org         TEXT   PRIMARY KEY REFERENCES orgs (name) ON DELETE CASCADE,
    customer_id TEXT   NOT NULL,
    updated_at  BIGINT NOT NULL
);

-- The spend-limit thresholds (percentages) announced, once per organisation and
-- period: inserting a row that is there already tells it was announced before.
CREATE TABLE spend_thresholds (
    org          TEXT    NOT NULL,
    period_start BIGINT  NOT NULL,
    threshold    INTEGER NOT NULL,
    created_at   BIGINT  NOT NULL,
    PRIMARY KEY (org, period_start, threshold)
);

-- +goose Down
DROP TABLE spend_thresholds;
DROP TABLE billing_customers;
DROP TABLE invoices;
DROP TABLE plan_assignments;
