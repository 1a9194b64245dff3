// Package billing prices usage: the plans an operator configures, the rating of an
// organisation's hourly usage rollups under its plan history into an invoice of
// integer minor units, and the quota and spend-limit checks that the entry points
// (deploy, scale, namespaces, previews, builds, the gateway) make against the plan.
//
// It depends on nothing but the domain types of package platform and YAML: the
// metering pipeline (package metering) produces the rollups, the control plane
// stores plan assignments and invoices, and billing/stripe exports them. Every amount
// is an int64 of the currency's minor unit; products and quotients are computed in
// 128 bits and rounded half up once per line, so no float ever touches money (see
// docs/billing.md).
package billing
