package notify

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/micro/platform"
)

func TestValidate(t *testing.T) {
	t.Parallel()
	type cfg = map[string]string
	email := func(extra cfg) cfg {
		c := cfg{"host": "smtp.acme.io", "from": "alerts@acme.io", "to": "ops@acme.io"}
		for k, v := range extra {
			c[k] = v
		}
		return c
	}
	sms := func(extra cfg) cfg {
		c := cfg{"account_sid": testSID, "from": "+14155550100", "to": "+14155550111"}
		for k, v := range extra {
			c[k] = v
		}
		return c
	}
	const hook = "https://hooks.slack.com/services/T0001/B0001/hooksecretXXXXXXXX"
	tests := []struct {
		name   string
		kind   string
		config cfg
		secret string
		// private validates with AllowPrivate (ValidateWith), else with Validate.
		private bool
		want    []string // each in the error; none means valid
	}{
		{name: "unknown kind", kind: "pigeon", want: []string{`unknown channel kind "pigeon"`, "email, sms, slack, pagerduty, webhook"}},

		{name: "email minimal", kind: platform.ChannelEmail, config: email(nil)},
		{name: "email full", kind: platform.ChannelEmail, config: email(cfg{"port": "465", "tls": "tls", "username": "alerts", "to": "Ops <ops@acme.io>, oncall@acme.io"}), secret: "pw"},
		{name: "email none on loopback", kind: platform.ChannelEmail, config: email(cfg{"host": "127.0.0.1", "tls": "none"}), private: true},
		{name: "email none on localhost", kind: platform.ChannelEmail, config: email(cfg{"host": "localhost", "tls": "none"}), private: true},
		{name: "email none on ::1", kind: platform.ChannelEmail, config: email(cfg{"host": "::1", "tls": "none"}), private: true},
		{name: "email none on a private address", kind: platform.ChannelEmail, config: email(cfg{"host": "10.1.2.3", "tls": "none"}), private: true},
		{name: "email none to a remote host, private allowed", kind: platform.ChannelEmail, config: email(cfg{"tls": "none"}), private: true, want: []string{`tls: "none"`, "loopback"}},
		{
			name: "email none on loopback, private refused", kind: platform.ChannelEmail, config: email(cfg{"host": "127.0.0.1", "tls": "none"}),
			want: []string{"host: 127.0.0.1 is a private address: the platform does not deliver to private networks", `tls: "none"`},
		},
		{name: "email on localhost", kind: platform.ChannelEmail, config: email(cfg{"host": "localhost"}), want: []string{`host: "localhost" is this machine`}},
		{name: "email on localhost, private allowed", kind: platform.ChannelEmail, config: email(cfg{"host": "localhost"}), private: true},
		{name: "email on a private address", kind: platform.ChannelEmail, config: email(cfg{"host": "192.168.1.10"}), want: []string{"host: 192.168.1.10 is a private address"}},
		{name: "email on metadata", kind: platform.ChannelEmail, config: email(cfg{"host": "169.254.169.254"}), want: []string{"host: 169.254.169.254 is a private address"}},
		{name: "email on ::1", kind: platform.ChannelEmail, config: email(cfg{"host": "::1"}), want: []string{"host: ::1 is a private address"}},
		{name: "email on a public address", kind: platform.ChannelEmail, config: email(cfg{"host": "198.41.0.4"})},
		{name: "email on a public IPv6 address", kind: platform.ChannelEmail, config: email(cfg{"host": "2606:4700:4700::1111"})},
		{
			name: "email missing everything", kind: platform.ChannelEmail, config: cfg{},
			want: []string{`missing field "host"`, `missing field "from"`, `missing field "to"`},
		},
		{
			name: "email every problem at once", kind: platform.ChannelEmail,
			config: email(cfg{"port": "99999", "tls": "ssl", "to": "ops@acme.io, bob@, not an address", "colour": "red"}),
			want:   []string{`port: "99999"`, `tls: "ssl" is not one of`, `to: "bob@" is not an email address`, `to: "not an address"`, `unknown field "colour"`},
		},
		{name: "email none to a remote host", kind: platform.ChannelEmail, config: email(cfg{"tls": "none"}), want: []string{"loopback"}},
		{name: "email host with a scheme", kind: platform.ChannelEmail, config: email(cfg{"host": "smtp://smtp.acme.io"}), want: []string{"host:"}},
		{name: "email host with a port", kind: platform.ChannelEmail, config: email(cfg{"host": "smtp.acme.io:587"}), want: []string{"host:"}},
		{name: "email bad from", kind: platform.ChannelEmail, config: email(cfg{"from": "alerts"}), want: []string{`from: "alerts"`}},
		{name: "email username without password", kind: platform.ChannelEmail, config: email(cfg{"username": "u"}), want: []string{"password"}},
		{name: "email password without username", kind: platform.ChannelEmail, config: email(nil), secret: "pw-xyz", want: []string{"no username"}},

		{name: "sms", kind: platform.ChannelSMS, config: sms(cfg{"to": "+14155550111, +447700900123"}), secret: testToken},
		{name: "sms local base_url", kind: platform.ChannelSMS, config: sms(cfg{"base_url": "http://127.0.0.1:8080"}), secret: testToken, private: true},
		{name: "sms private base_url", kind: platform.ChannelSMS, config: sms(cfg{"base_url": "http://10.0.0.7:8080"}), secret: testToken, private: true},
		{
			name: "sms local base_url, private refused", kind: platform.ChannelSMS, config: sms(cfg{"base_url": "http://127.0.0.1:8080"}), secret: testToken,
			want: []string{"base_url: must be an https URL", "base_url: 127.0.0.1 is a private address"},
		},
		{
			name: "sms http to a name, private allowed", kind: platform.ChannelSMS, config: sms(cfg{"base_url": "http://twilio.internal"}), secret: testToken, private: true,
			want: []string{"base_url: must be an https URL (http only to a loopback or private-address host)"},
		},
		{
			name: "sms bad everything", kind: platform.ChannelSMS,
			config: sms(cfg{"account_sid": "AC123", "from": "4155550100", "to": "+14155550111,555-1234", "base_url": "http://twilio.example", "region": "eu"}),
			want:   []string{"account_sid: want AC", `from: "4155550100" is not an E.164`, `to: "555-1234"`, "base_url: must be an https URL", `unknown field "region"`, "auth token"},
		},
		{name: "sms missing", kind: platform.ChannelSMS, config: cfg{}, secret: testToken, want: []string{`missing field "account_sid"`, `missing field "from"`, `missing field "to"`}},

		{name: "slack webhook", kind: platform.ChannelSlack, secret: hook},
		{name: "slack webhook on loopback", kind: platform.ChannelSlack, secret: "http://127.0.0.1:9/services/x", private: true},
		{name: "slack webhook on loopback, private refused", kind: platform.ChannelSlack, secret: "http://127.0.0.1:9/services/hooksecretXXXXXXXX", want: []string{"must be an https URL", "127.0.0.1 is a private address"}},
		{name: "slack webhook on ::1 over https", kind: platform.ChannelSlack, secret: "https://[::1]:9/services/hooksecretXXXXXXXX", want: []string{"::1 is a private address"}},
		{name: "slack webhook over http", kind: platform.ChannelSlack, secret: "http://hooks.slack.com/services/T0001/B0001/hooksecretXXXXXXXX", want: []string{"must be an https URL"}},
		{name: "slack webhook not a URL", kind: platform.ChannelSlack, secret: "hooksecretXXXXXXXX", want: []string{"webhook URL"}},
		{name: "slack webhook ftp", kind: platform.ChannelSlack, secret: "ftp://hooks.slack.com/hooksecretXXXXXXXX", want: []string{"http or https"}},
		{name: "slack no secret", kind: platform.ChannelSlack, want: []string{"the webhook URL (the secret) is empty"}},
		{name: "slack base_url without channel", kind: platform.ChannelSlack, config: cfg{"base_url": "https://slack.com/api"}, secret: hook, want: []string{"base_url: only used with channel"}},
		{name: "slack bot", kind: platform.ChannelSlack, config: cfg{"channel": "C0123ABC"}, secret: testBotToken},
		{name: "slack bot, local API", kind: platform.ChannelSlack, config: cfg{"channel": "#alerts", "base_url": "http://localhost:9999/api"}, secret: testBotToken, private: true},
		{name: "slack bot, local API, private refused", kind: platform.ChannelSlack, config: cfg{"channel": "#alerts", "base_url": "https://api.localhost/api"}, secret: testBotToken, want: []string{`base_url: "api.localhost" is this machine`}},
		{name: "slack channel with a webhook URL", kind: platform.ChannelSlack, config: cfg{"channel": "C0123ABC"}, secret: hook, want: []string{"bot token (xoxb-"}},
		{name: "slack bot token without channel", kind: platform.ChannelSlack, secret: testBotToken, want: []string{"set channel"}},
		{name: "slack unknown field", kind: platform.ChannelSlack, config: cfg{"webhook": "x"}, secret: hook, want: []string{`unknown field "webhook"`}},

		{name: "pagerduty", kind: platform.ChannelPagerDuty, secret: testRoutingKey},
		{name: "pagerduty EU", kind: platform.ChannelPagerDuty, config: cfg{"base_url": "https://events.eu.pagerduty.com"}, secret: testRoutingKey},
		{name: "pagerduty short key", kind: platform.ChannelPagerDuty, secret: "R01234", want: []string{"32 letters and digits"}},
		{name: "pagerduty no key", kind: platform.ChannelPagerDuty, want: []string{"routing key (the secret) is empty"}},
		{name: "pagerduty link-local", kind: platform.ChannelPagerDuty, config: cfg{"base_url": "https://[fe80::1%25eth0]/"}, secret: testRoutingKey, want: []string{"base_url: fe80::1%eth0 is a private address"}},
		{name: "pagerduty CGNAT", kind: platform.ChannelPagerDuty, config: cfg{"base_url": "https://100.64.0.1"}, secret: testRoutingKey, want: []string{"base_url: 100.64.0.1 is a private address"}},
		{name: "pagerduty bad base_url", kind: platform.ChannelPagerDuty, config: cfg{"base_url": "ftp://x", "service": "y"}, secret: testRoutingKey, want: []string{"base_url: must be an http or https URL", `unknown field "service"`}},

		{name: "webhook https", kind: platform.ChannelWebhook, config: cfg{"url": "https://hooks.acme.io/alerts?team=ops"}, secret: testHMACKey},
		{name: "webhook http", kind: platform.ChannelWebhook, config: cfg{"url": "http://alerts.internal:8080/hook"}, secret: testHMACKey},
		{name: "webhook public IP", kind: platform.ChannelWebhook, config: cfg{"url": "http://8.8.8.8/hook"}, secret: testHMACKey},
		{name: "webhook public IPv6", kind: platform.ChannelWebhook, config: cfg{"url": "https://[2001:4860:4860::8888]/hook"}, secret: testHMACKey},
		{name: "webhook loopback", kind: platform.ChannelWebhook, config: cfg{"url": "http://127.0.0.1:4222/"}, secret: testHMACKey, want: []string{"url: 127.0.0.1 is a private address: the platform does not deliver to private networks"}},
		{name: "webhook loopback, private allowed", kind: platform.ChannelWebhook, config: cfg{"url": "http://127.0.0.1:4222/"}, secret: testHMACKey, private: true},
		{name: "webhook cloud metadata", kind: platform.ChannelWebhook, config: cfg{"url": "http://169.254.169.254/latest/meta-data/"}, secret: testHMACKey, want: []string{"url: 169.254.169.254 is a private address"}},
		{name: "webhook 10/8", kind: platform.ChannelWebhook, config: cfg{"url": "https://10.1.2.3/"}, secret: testHMACKey, want: []string{"url: 10.1.2.3 is a private address"}},
		{name: "webhook 172.16/12", kind: platform.ChannelWebhook, config: cfg{"url": "https://172.31.255.1/"}, secret: testHMACKey, want: []string{"url: 172.31.255.1 is a private address"}},
		{name: "webhook 0.0.0.0", kind: platform.ChannelWebhook, config: cfg{"url": "http://0.0.0.0:8080/"}, secret: testHMACKey, want: []string{"url: 0.0.0.0 is a private address"}},
		{name: "webhook localhost", kind: platform.ChannelWebhook, config: cfg{"url": "http://LOCALHOST.:8080/"}, secret: testHMACKey, want: []string{`url: "LOCALHOST." is this machine`}},
		{name: "webhook ::1", kind: platform.ChannelWebhook, config: cfg{"url": "http://[::1]:8080/"}, secret: testHMACKey, want: []string{"url: ::1 is a private address"}},
		{name: "webhook ::", kind: platform.ChannelWebhook, config: cfg{"url": "http://[::]:8080/"}, secret: testHMACKey, want: []string{"url: :: is a private address"}},
		{name: "webhook fe80::", kind: platform.ChannelWebhook, config: cfg{"url": "http://[fe80::]:8080/"}, secret: testHMACKey, want: []string{"url: fe80:: is a private address"}},
		{name: "webhook fc00::/7", kind: platform.ChannelWebhook, config: cfg{"url": "http://[fd12:3456::1]/"}, secret: testHMACKey, want: []string{"url: fd12:3456::1 is a private address"}},
		{name: "webhook IPv4-mapped loopback", kind: platform.ChannelWebhook, config: cfg{"url": "http://[::ffff:127.0.0.1]:8080/"}, secret: testHMACKey, want: []string{"url: ::ffff:127.0.0.1 is a private address"}},
		{name: "webhook IPv4-mapped metadata", kind: platform.ChannelWebhook, config: cfg{"url": "http://[::ffff:a9fe:a9fe]/"}, secret: testHMACKey, want: []string{"url: ::ffff:169.254.169.254 is a private address"}},
		{name: "webhook NAT64 of a private address", kind: platform.ChannelWebhook, config: cfg{"url": "http://[64:ff9b::10.0.0.1]/"}, secret: testHMACKey, want: []string{"is a private address"}},
		{name: "webhook missing", kind: platform.ChannelWebhook, config: cfg{}, want: []string{`missing field "url"`, "signing key"}},
		{name: "webhook scheme", kind: platform.ChannelWebhook, config: cfg{"url": "file:///etc/passwd"}, secret: testHMACKey, want: []string{"url: must be an http or https URL", "url: the URL has no host"}},
		{name: "webhook no host", kind: platform.ChannelWebhook, config: cfg{"url": "https:///x"}, secret: testHMACKey, want: []string{"no host"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := Validate(tt.kind, tt.config, tt.secret)
			if tt.private {
				err = ValidateWith(Options{AllowPrivate: true}, tt.kind, tt.config, tt.secret)
			}
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate: nil, want an error saying %q", tt.want)
			}
			if platform.ErrorCode(err) != platform.EINVALID {
				t.Errorf("code %q, want invalid", platform.ErrorCode(err))
			}
			msg := platform.ErrorMessage(err)
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not say %q", msg, w)
				}
			}
			mustNotLeak(t, err, tt.secret, "hooksecret")
		})
	}
}

// TestSendRefusesInvalidChannel: a channel that Validate refuses is refused for good at
// send time too, before any connection.
func TestSendRefusesInvalidChannel(t *testing.T) {
	t.Parallel()
	for _, kind := range platform.ChannelKinds {
		err := Senders(testOptions())[kind].Send(testCtx(t), Channel{Kind: kind, Config: map[string]string{"bogus": "1"}}, testMessage(Firing))
		wantClass(t, err, true)
		if platform.ErrorCode(err) != platform.EINVALID || !strings.Contains(err.Error(), `unknown field "bogus"`) {
			t.Errorf("%s: %v", kind, err)
		}
	}
}

func TestSendersCoverEveryKind(t *testing.T) {
	t.Parallel()
	s := Senders(Options{})
	for _, k := range platform.ChannelKinds {
		if s[k] == nil {
			t.Errorf("no sender for %s", k)
		}
	}
	if len(s) != len(platform.ChannelKinds) {
		t.Errorf("%d senders for %d kinds", len(s), len(platform.ChannelKinds))
	}
	o := Options{}.withDefaults()
	if o.HTTPClient.Timeout != 10*time.Second || o.DialTimeout != 10*time.Second || o.HTTPClient.CheckRedirect == nil {
		t.Errorf("defaults: client timeout %v, dial timeout %v", o.HTTPClient.Timeout, o.DialTimeout)
	}
	mine := &http.Client{Timeout: time.Second}
	o = Options{HTTPClient: mine}.withDefaults()
	if o.HTTPClient == mine || mine.CheckRedirect != nil || o.HTTPClient.Timeout != time.Second {
		t.Error("Senders changed the caller's client, or did not keep its timeout")
	}
}
