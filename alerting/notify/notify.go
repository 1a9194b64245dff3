// Package notify delivers alert notifications over the channels an organisation
// configures: email (SMTP), SMS (Twilio's REST API), Slack (incoming webhook), PagerDuty
// (Events API v2) and a generic webhook (HMAC-signed JSON).
//
// A Sender delivers one Message to one channel. It classifies failures: an error that
// Permanent reports as permanent (a refused recipient, a 4xx that will not change) is
// not retried; anything else (a timeout, a 5xx, a refused connection) is, by the
// dispatcher in package alerting. Senders never log or return a channel's secret.
package notify

import (
	"context"
	"errors"
	"time"
)

// Kind is what a notification says about its alert.
type Kind string

// Kinds.
const (
	Firing   Kind = "firing"   // the alert started firing
	Repeat   Kind = "repeat"   // it is still firing (the repeat interval passed)
	Resolved Kind = "resolved" // it cleared
	Test     Kind = "test"     // `platform alerts test CHANNEL`
)

// Message is one notification, whatever the channel.
type Message struct {
	Kind Kind
	// Key identifies the alert's group (namespace, rule, service): PagerDuty's dedup key,
	// Slack's thread-like grouping, the email's subject stays stable under it.
	Key string
	// ID is the notification's own id (idempotency key: a receiver that sees it twice
	// can drop the second; the webhook sends it as X-Platform-Delivery).
	ID       string
	Org      string
	Severity string // info, warning, critical
	Rule     string // the rule's name, e.g. "crash loop"
	// Namespace, Service and Region say where; Service and Region may be empty.
	Namespace string
	Service   string
	Region    string
	// Summary is one line ("helloworld is crash-looping in local"), Reason the details.
	Summary string
	Reason  string
	Since   time.Time
	// URL links to the dashboard page of what the alert is about.
	URL string
}

// Channel is where a Sender delivers: its kind's settings and its secret (the SMTP
// password, the Twilio auth token, the Slack webhook URL, the PagerDuty routing key, the
// webhook's HMAC key), opened from the store by the caller.
type Channel struct {
	ID     string
	Kind   string
	Config map[string]string
	Secret string
}

// Sender delivers a message to a channel of its kind.
type Sender interface {
	Send(ctx context.Context, ch Channel, m Message) error
}

// permanent marks an error that retrying will not fix.
type permanent struct{ err error }

func (p permanent) Error() string { return p.err.Error() }
func (p permanent) Unwrap() error { return p.err }

// Permanently wraps err as not worth retrying.
func Permanently(err error) error {
	if err == nil {
		return nil
	}
	return permanent{err}
}

// Permanent reports whether err should not be retried.
func Permanent(err error) bool {
	var p permanent
	return errors.As(err, &p)
}
