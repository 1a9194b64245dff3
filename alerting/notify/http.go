package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// maxResponseBody bounds what a sender reads of a provider's answer: enough for any
// error document, not a way for a hostile endpoint to exhaust memory.
const maxResponseBody = 64 << 10

// userAgent names the platform to providers and webhook receivers.
const userAgent = "micro-platform-notify/1"

// answer is what a provider answered: its status, headers and (at most
// maxResponseBody of) its body.
type answer struct {
	status int
	header http.Header
	body   []byte
}

func (a *answer) ok() bool { return a.status >= 200 && a.status < 300 }

// post sends body to target and reads the answer. Its errors never contain target (a
// Slack webhook URL is a secret): the *url.Error the client returns is unwrapped.
func post(ctx context.Context, c *http.Client, target, contentType string, body []byte, header http.Header) (*answer, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return nil, Permanently(errors.New("the endpoint is not a valid URL"))
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("User-Agent", userAgent)
	resp, err := c.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
			err = fmt.Errorf("%w: %v", ctx.Err(), err)
		}
		return nil, fmt.Errorf("post: %w", err)
	}
	defer resp.Body.Close()
	a := &answer{status: resp.StatusCode, header: resp.Header}
	a.body, err = io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
	if err != nil && !a.ok() {
		// The status says enough; a body cut short only loses detail.
		err = nil
	}
	if err != nil {
		return nil, fmt.Errorf("read answer (%s): %w", statusText(a.status), err)
	}
	return a, nil
}

// statusError turns a provider's non-2xx answer into an error that says what it
// answered: the status and detail, or else the start of the body. A 4xx other than 408
// and 429 is permanent; a 429 carries its Retry-After; anything else is retryable.
func statusError(provider string, a *answer, detail string, now time.Time) error {
	if detail == "" {
		detail = shortBody(a.body)
	}
	msg := provider + " answered " + statusText(a.status)
	if detail != "" {
		msg += ": " + detail
	}
	err := errors.New(msg)
	switch {
	case a.status == http.StatusTooManyRequests:
		if d, ok := parseRetryAfter(a.header.Get("Retry-After"), now); ok {
			return withRetryAfter(err, d)
		}
		return err
	case a.status == http.StatusRequestTimeout:
		return err
	case a.status >= 400 && a.status < 500:
		return Permanently(err)
	}
	return err
}

func statusText(code int) string {
	if t := http.StatusText(code); t != "" {
		return strconv.Itoa(code) + " " + t
	}
	return strconv.Itoa(code)
}

// parseRetryAfter reads a Retry-After header: delay-seconds or an HTTP-date (RFC 9110).
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 {
			return 0, false
		}
		return time.Duration(min(n, 86400)) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0).Round(time.Second), true
	}
	return 0, false
}

// maxDetail is how much of a provider's body an error quotes.
const maxDetail = 200

// shortBody returns the start of body on one line, printable, for an error message.
func shortBody(body []byte) string {
	return oneLine(strings.ToValidUTF8(string(body), "?"), maxDetail)
}

// oneLine collapses s's whitespace and control characters into single spaces and cuts
// it to at most n bytes, on a rune boundary, marking a cut with "…".
func oneLine(s string, n int) string {
	var b strings.Builder
	space := false
	for _, r := range s {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			space = true
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteRune(r)
	}
	return truncate(b.String(), n)
}

// truncate cuts s to at most n bytes on a rune boundary, ending a cut string with "…".
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const ell = "…"
	cut := max(n-len(ell), 0)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + ell
}

// redactedError is err with the secrets in its message replaced; it still unwraps to
// err so that Permanent and RetryAfter see through it.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// redact makes sure err's message contains none of secrets, whatever a library or a
// provider put in it. Secrets shorter than 4 bytes are left: replacing them would
// mangle the message and they would not be secret anyway.
func redact(err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	for _, s := range secrets {
		if len(s) >= 4 {
			msg = strings.ReplaceAll(msg, s, "[redacted]")
		}
	}
	if msg == err.Error() {
		return err
	}
	return &redactedError{msg, err}
}

// joinRecipients combines the errors of deliveries to several recipients of one
// channel: permanent only when every failure is, with the longest Retry-After any gave.
func joinRecipients(errs []error) error {
	var failed []error
	allPermanent := true
	var delay time.Duration
	delayed := false
	for _, err := range errs {
		if err == nil {
			continue
		}
		failed = append(failed, err)
		if !Permanent(err) {
			allPermanent = false
		}
		if d, ok := RetryAfter(err); ok {
			delayed = true
			delay = max(delay, d)
		}
	}
	if len(failed) == 0 {
		return nil
	}
	if !allPermanent {
		// A permanent failure among retryable ones keeps its message, not its mark,
		// which Permanent would find anywhere in the chain.
		for i, err := range failed {
			if Permanent(err) {
				failed[i] = errors.New(err.Error())
			}
		}
	}
	var err error = joined(failed)
	switch {
	case allPermanent:
		return Permanently(err)
	case delayed:
		return retryAfter{err, delay}
	}
	return err
}

// joined is errors.Join on one line.
type joined []error

func (j joined) Error() string {
	s := make([]string, len(j))
	for i, e := range j {
		s[i] = e.Error()
	}
	return strings.Join(s, "; ")
}
func (j joined) Unwrap() []error { return j }
