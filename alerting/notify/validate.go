package notify

import (
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/micro/platform"
)

// Validate checks a channel before it is saved, under the default rules: private
// addresses refused (ValidateWith with the zero Options). It checks a known kind, every
// required config key, no unknown one, and well-formed values (URLs and their schemes,
// hosts, E.164 phone numbers, email addresses) and secret. It returns nil or one
// EINVALID error that lists every problem; no message repeats the secret. Senders check
// the same at send time and refuse an invalid channel with a permanent error.
func Validate(kind string, config map[string]string, secret string) error {
	return ValidateWith(Options{}, kind, config, secret)
}

// ValidateWith checks a channel as Validate does, under the rules of the senders opts
// builds (only opts.AllowPrivate matters): give it the Options given to Senders. Unless
// opts.AllowPrivate, it refuses a host that is a literal loopback, private, link-local
// or otherwise non-public IP address (IPv4-mapped IPv6 too) or localhost, plain http to
// Slack, PagerDuty and Twilio endpoints (they carry a credential) and an email channel
// with tls "none". With opts.AllowPrivate, such hosts are fine, and plain http or tls
// "none" are allowed to a loopback or private-address host. A host name is not
// resolved here: the senders check the address it resolves to when they connect.
func ValidateWith(opts Options, kind string, config map[string]string, secret string) error {
	var problems []string
	allowPrivate := opts.AllowPrivate
	switch kind {
	case platform.ChannelEmail:
		_, problems = parseEmail(config, secret, allowPrivate)
	case platform.ChannelSMS:
		_, problems = parseTwilio(config, secret, allowPrivate)
	case platform.ChannelSlack:
		_, problems = parseSlack(config, secret, allowPrivate)
	case platform.ChannelPagerDuty:
		_, problems = parsePagerDuty(config, secret, allowPrivate)
	case platform.ChannelWebhook:
		_, problems = parseWebhook(config, secret, allowPrivate)
	default:
		return platform.Errorf(platform.EINVALID, "unknown channel kind %q: want one of %s",
			oneLine(kind, 40), strings.Join(platform.ChannelKinds, ", "))
	}
	return configError(kind, problems)
}

// configError is the EINVALID error listing problems, nil for none.
func configError(kind string, problems []string) error {
	if len(problems) == 0 {
		return nil
	}
	return platform.Errorf(platform.EINVALID, "invalid %s channel: %s", kind, strings.Join(problems, "; "))
}

// checkKeys reports a missing or empty required key and an unknown key, in a stable
// order.
func checkKeys(config map[string]string, required, optional []string) []string {
	var problems []string
	for _, k := range required {
		if strings.TrimSpace(config[k]) == "" {
			problems = append(problems, fmt.Sprintf("missing field %q", k))
		}
	}
	var unknown []string
	for k := range config {
		if !slices.Contains(required, k) && !slices.Contains(optional, k) {
			unknown = append(unknown, k)
		}
	}
	slices.Sort(unknown)
	for _, k := range unknown {
		problems = append(problems, fmt.Sprintf("unknown field %q", oneLine(k, 40)))
	}
	return problems
}

// checkEndpoint parses raw as an absolute http(s) URL with a host. Unless allowPrivate,
// a host that is a private IP literal or localhost is refused (privateHost). With
// httpsOnly (the request carries a credential), http is refused, unless allowPrivate and
// the host is loopback or private (tests, a local relay). Problems name field but never
// quote raw, which may hold a token; they quote only a host privateHost refuses.
func checkEndpoint(field, raw string, httpsOnly, allowPrivate bool) (*url.URL, []string) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return nil, []string{field + ": not a valid URL"}
	}
	var problems []string
	switch u.Scheme {
	case "https":
	case "http":
		switch {
		case !httpsOnly:
		case !allowPrivate:
			problems = append(problems, field+": must be an https URL")
		case !privateHost(u.Hostname()):
			problems = append(problems, field+": must be an https URL (http only to a loopback or private-address host)")
		}
	default:
		problems = append(problems, field+": must be an http or https URL")
	}
	if u.Host == "" || u.Hostname() == "" {
		problems = append(problems, field+": the URL has no host")
	} else if !allowPrivate && privateHost(u.Hostname()) {
		problems = append(problems, hostProblem(field, u.Hostname()))
	}
	if u.Fragment != "" {
		problems = append(problems, field+": the URL must not have a #fragment")
	}
	if len(problems) > 0 {
		return nil, problems
	}
	return u, nil
}

// e164 is a phone number in E.164: "+", a country code not starting with 0, at most 15
// digits in all.
var e164 = regexp.MustCompile(`^\+[1-9][0-9]{1,14}$`)

// splitList splits a comma-separated config value, trimming and dropping empty items
// and duplicates.
func splitList(v string) []string {
	var out []string
	for _, item := range strings.Split(v, ",") {
		item = strings.TrimSpace(item)
		if item != "" && !slices.Contains(out, item) {
			out = append(out, item)
		}
	}
	return out
}

// parseEmailAddress parses one address ("ops@acme.io" or "Ops <ops@acme.io>"),
// requiring a domain.
func parseEmailAddress(v string) (*mail.Address, bool) {
	a, err := mail.ParseAddress(v)
	if err != nil {
		return nil, false
	}
	at := strings.LastIndexByte(a.Address, '@')
	if at <= 0 || at == len(a.Address)-1 {
		return nil, false
	}
	return a, true
}

// hostname matches a DNS name (letters, digits, hyphens, dots).
var hostname = regexp.MustCompile(`^(?i)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*\.?$`)

// validHost reports whether h is a host name or an IP address (no scheme, no port).
func validHost(h string) bool {
	return len(h) <= 253 && (hostname.MatchString(h) || net.ParseIP(h) != nil)
}
