package control

import (
	"context"
	"regexp"
	"strings"

	platform "github.com/micro/platform"
)

// urlPassword matches the password of a URL's user info: go-micro logs the mesh URL it
// connects to ("Broker [nats] Connected to nats://ns-acme:PASSWORD@10.213.0.1:4222"), and
// a service may print a database URL the same way.
var urlPassword = regexp.MustCompile(`(\b[A-Za-z][A-Za-z0-9+.-]*://[^\s:/@]+:)[^\s@/]+@`)

// redactLine replaces every URL password in line with "REDACTED".
func redactLine(line string) string {
	if !strings.Contains(line, "://") {
		return line
	}
	return urlPassword.ReplaceAllString(line, "${1}REDACTED@")
}

// redactLogs passes in's entries on with the URL passwords of their lines redacted, so the
// mesh credentials an instance's go-micro logs reach no one through the logs (API,
// CLI, dashboard), until in closes or ctx ends.
func redactLogs(ctx context.Context, in <-chan platform.LogEntry) <-chan platform.LogEntry {
	out := make(chan platform.LogEntry, cap(in))
	go func() {
		defer close(out)
		for e := range in {
			e.Line = redactLine(e.Line)
			select {
			case out <- e:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}
