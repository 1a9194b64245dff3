package control

import "testing"

func TestRedactLine(t *testing.T) {
	for in, want := range map[string]string{
		`level=INFO msg="Broker [nats] Connected to nats://ns-acme:c2VjcmV0_-x@10.213.0.1:4222"`: `level=INFO msg="Broker [nats] Connected to nats://ns-acme:REDACTED@10.213.0.1:4222"`,
		"dial postgres://app:p%40ss@db:5432/orders and nats://dev.t-1:mp_abc@127.0.0.1:4222":     "dial postgres://app:REDACTED@db:5432/orders and nats://dev.t-1:REDACTED@127.0.0.1:4222",
		"GET https://example.com:8443/path?q=1 200":                                              "GET https://example.com:8443/path?q=1 200",
		"plain line, no URL": "plain line, no URL",
	} {
		if got := redactLine(in); got != want {
			t.Errorf("redactLine(%q) = %q, want %q", in, got, want)
		}
	}
}
