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

// Validate checks a channel before it is saved: a known kind, every required config
// key, no unknown one, and well-formed values (URLs and their schemes, E.164 phone
// numbers, email addresses) and secret. It returns nil or one EINVALID error that lists
// every problem; no message repeats the secret. Senders check the same at send time and
// refuse an invalid channel with a permanent error.
func Validate(kind string, config map[string]string, secret string) error {
	var problems []string
	switch kind {
	case platform.ChannelEmail:
		_, problems = parseEmail(config, secret)
	case platform.ChannelSMS:
		_, problems = parseTwilio(config, secret)
	case platform.ChannelSlack:
		_, problems = parseSlack(config, secret)
	case platform.ChannelPagerDuty:
		_, problems = parsePagerDuty(config, secret)
	case platform.ChannelWebhook:
		_, problems = parseWebhook(config, secret)
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

// isLoopback reports whether host (a name or an IP, without port) is this machine.
func isLoopback(host string) bool {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// checkEndpoint parses raw as an absolute http(s) URL with a host. With httpsOnly, http
// is allowed only to a loopback host (tests, a local relay): the request carries a
// credential. Problems name field but never quote raw, which may hold a token.
func checkEndpoint(field, raw string, httpsOnly bool) (*url.URL, []string) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return nil, []string{field + ": not a valid URL"}
	}
	var problems []string
	switch u.Scheme {
	case "https":
	case "http":
		if httpsOnly && !isLoopback(u.Hostname()) {
			problems = append(problems, field+": must be an https URL (http only to a loopback host)")
		}
	default:
		problems = append(problems, field+": must be an http or https URL")
	}
	if u.Host == "" || u.Hostname() == "" {
		problems = append(problems, field+": the URL has no host")
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
