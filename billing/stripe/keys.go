package stripe

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
)

// Idempotency keys are made of our own ids only, so that every attempt at one step of one
// export sends the same key, and no two steps share one:
//
//	micro-platform/customer/ORG
//	micro-platform/invoice/INVOICE/create
//	micro-platform/invoice/INVOICE/line/N     (N: the line's index, from 0)
//	micro-platform/invoice/INVOICE/finalize
//
// Stripe returns the first answer to a request repeated with the same key within 24
// hours, and refuses one whose parameters differ: an invoice whose lines changed after a
// partial export is a conflict, never a second charge. Keys longer than Stripe's 255
// characters keep their prefix and end in a SHA-256 of the whole.
const keyPrefix = "micro-platform/"

func customerKey(org string) string { return idempotencyKey("customer", org) }

func invoiceKey(invoice string) string { return idempotencyKey("invoice", invoice, "create") }

func lineKey(invoice string, line int) string {
	return idempotencyKey("invoice", invoice, "line", strconv.Itoa(line))
}

func finalizeKey(invoice string) string { return idempotencyKey("invoice", invoice, "finalize") }

func idempotencyKey(parts ...string) string {
	k := keyPrefix + strings.Join(parts, "/")
	if len(k) <= 255 {
		return k
	}
	sum := sha256.Sum256([]byte(k))
	return k[:255-1-64] + "#" + hex.EncodeToString(sum[:])
}
