// Package notify delivers alert notifications over the channels an organisation
// configures: email (SMTP), SMS (Twilio's REST API), Slack (incoming webhook), PagerDuty
// (Events API v2) and a generic webhook (HMAC-signed JSON).
//
// A Sender delivers one Message to one channel. It classifies failures: an error that
// Permanent reports as permanent (a refused recipient, a 4xx that will not change) is
// not retried; anything else (a timeout, a 5xx, a refused connection) is, by the
// dispatcher in package alerting, after the delay RetryAfter reports when the provider
// gave one. Senders never log or return a channel's secret.
//
// Senders builds one Sender per channel kind; Validate (ValidateWith, for Options other
// than the default) checks a channel's config and secret before it is saved, with the
// rules each Sender applies again at send time.
//
// Channels are configured by tenants, and the platform must not become their way into
// its own network (SSRF): unless Options.AllowPrivate, senders connect only to public
// addresses. Every connection, HTTP or SMTP, is checked when it is dialed, against the
// address its host resolved to, so a name that resolves (or is rebound) to a private
// address is refused like a literal one: loopback (127.0.0.0/8, ::1), private (10/8,
// 172.16/12, 192.168/16, fc00::/7), link-local (169.254.0.0/16, where cloud metadata
// lives, fe80::/10), carrier-grade NAT (100.64/10), unspecified (0.0.0.0, ::),
// multicast and the other special-purpose ranges, IPv4-mapped IPv6 addresses as the
// IPv4 address they map. The refusal is a *PrivateAddressError, permanent. Validate
// refuses earlier a literal private address, localhost, and plain http where a
// credential travels (Slack, PagerDuty, Twilio) or mail in clear (tls "none"). Senders
// never follow redirects, which would be another way around the checks.
package notify

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/micro/platform"
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
	// the email thread (References), the webhook's "key"; the subject stays stable under it.
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

// Channel is where a Sender delivers: its kind (one of platform.ChannelKinds), its settings and its secret (the SMTP
// password, the Twilio auth token, the Slack webhook URL, the PagerDuty routing key, the
// webhook's HMAC key), opened from the store by the caller.
type Channel struct {
	ID     string
	Kind   string
	Config map[string]string
	Secret string
}

// Sender delivers a message to a channel of its kind. Send returns nil once the provider
// accepted the message, an error that Permanent reports for one retrying will not fix
// (the channel's configuration is invalid, the provider refused it with a 4xx or an SMTP
// 5xx), and any other error (network, timeout, 5xx, 429, SMTP 4xx) for one worth
// retrying, which RetryAfter may say when. Errors never contain the channel's secret.
type Sender interface {
	Send(ctx context.Context, ch Channel, m Message) error
}

// Options configures the senders Senders builds, and the rules ValidateWith applies.
type Options struct {
	// HTTPClient posts to Twilio, Slack, PagerDuty and webhooks; nil means a client with
	// Timeout. Senders use a copy that does not follow redirects: a POST redirected would
	// arrive as a GET without its body, a delivery that looks made and is not (and could
	// be sent where the guard would not let the POST go).
	//
	// Unless AllowPrivate, the copy's transport is guarded: when the client's Transport
	// is nil or an *http.Transport, a clone of it (of http.DefaultTransport for nil) that
	// checks each connection when it is dialed, without a proxy (a proxy would connect on
	// the platform's behalf, out of the guard's sight: a platform that needs one sets
	// AllowPrivate and lets the proxy decide); a DialContext or DialTLSContext of the
	// caller's is kept, the host it is given checked before it dials and the connection
	// it returns before anything is written. Any other RoundTripper is wrapped to check
	// the request's host before the request, which cannot see what its connections reach:
	// give an *http.Transport to be sure. The caller's client and transport are not
	// changed.
	HTTPClient *http.Client
	// Timeout bounds one HTTP request (for the default client) and one SMTP conversation.
	// Zero means 10 s. A context deadline that comes sooner wins.
	Timeout time.Duration
	// DialTimeout bounds connecting to an SMTP server. Zero means 10 s.
	DialTimeout time.Duration
	// TLSConfig is the base TLS configuration for SMTP (STARTTLS and implicit TLS); the
	// server name is set per channel. Nil means the system's roots; tests set RootCAs.
	TLSConfig *tls.Config
	// Clock dates an email and reads an HTTP-date Retry-After; nil means the system's.
	Clock platform.Clock
	// AllowPrivate lets channels reach private networks: loopback, private, link-local
	// and the other non-public addresses the egress guard otherwise refuses (see the
	// package doc), and plain http or SMTP without TLS to a loopback or private host.
	// Operators set it when a relay they trust lives on their own network (an SMTP relay,
	// an alert gateway) and every tenant may use it; tests set it to reach receivers on
	// 127.0.0.1. False, the default, is right wherever tenants are not trusted.
	AllowPrivate bool
}

const defaultTimeout = 10 * time.Second

func (o Options) withDefaults() Options {
	if o.Timeout <= 0 {
		o.Timeout = defaultTimeout
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = defaultTimeout
	}
	if o.Clock == nil {
		o.Clock = platform.SystemClock{}
	}
	c := &http.Client{Timeout: o.Timeout}
	if o.HTTPClient != nil {
		cp := *o.HTTPClient
		c = &cp
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	if !o.AllowPrivate {
		c = guardedClient(c)
	}
	o.HTTPClient = c
	return o
}

// Senders returns a Sender for each of platform.ChannelKinds, keyed by kind.
func Senders(opts Options) map[string]Sender {
	opts = opts.withDefaults()
	return map[string]Sender{
		platform.ChannelEmail:     &emailSender{opts: opts},
		platform.ChannelSMS:       &twilioSender{opts: opts},
		platform.ChannelSlack:     &slackSender{opts: opts},
		platform.ChannelPagerDuty: &pagerDutySender{opts: opts},
		platform.ChannelWebhook:   &webhookSender{opts: opts},
	}
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

// Permanent reports whether err should not be retried: it was marked with Permanently,
// or it is the egress guard's refusal (*PrivateAddressError).
func Permanent(err error) bool {
	var p permanent
	var pa *PrivateAddressError
	return errors.As(err, &p) || errors.As(err, &pa)
}

// retryAfter marks an error whose provider said when to try again.
type retryAfter struct {
	err   error
	delay time.Duration
}

func (r retryAfter) Error() string { return r.err.Error() }
func (r retryAfter) Unwrap() error { return r.err }

// RetryAfter reports the delay a provider asked for before the next attempt (a 429's
// Retry-After, Slack's ratelimited), if it gave one.
func RetryAfter(err error) (time.Duration, bool) {
	var r retryAfter
	if errors.As(err, &r) {
		return r.delay, true
	}
	return 0, false
}

// withRetryAfter wraps err with the delay, saying it in the message.
func withRetryAfter(err error, d time.Duration) error {
	return retryAfter{fmt.Errorf("%w (retry after %s)", err, d), d}
}
