package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// rowRE matches a result row and captures label, requests and errors.
var rowRE = regexp.MustCompile(`^\| (\S+) \| (\d+) \| (\d+) \| \d+ \| [0-9.]+ ms \| [0-9.]+ ms \|$`)

func runLoadgen(t *testing.T, args []string, env map[string]string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(context.Background(), args, func(k string) string { return env[k] }, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestRunHTTP(t *testing.T) {
	t.Parallel()
	var served, bad atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		n := served.Add(1)
		if r.Method != http.MethodPost || r.Header.Get("Authorization") != "Bearer tok" ||
			r.Header.Get("Micro-Namespace") != "acme" || string(body) != `{"name":"Alice"}` {
			bad.Add(1)
		}
		if n%10 == 0 {
			http.Error(w, "boom", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte(`{"msg":"hi"}`))
	}))
	defer srv.Close()

	code, out, errOut := runLoadgen(t, []string{"-mode", "http", "-url", srv.URL + "/api/helloworld/Helloworld.Call",
		"-H", "Authorization: Bearer tok", "-H", "Micro-Namespace: acme", "-body", `{"name":"Alice"}`,
		"-c", "4", "-d", "10s", "-n", "200", "-label", "gateway"}, nil)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	m := rowRE.FindStringSubmatch(strings.TrimSpace(out))
	if m == nil {
		t.Fatalf("output %q is not one table row", out)
	}
	if m[1] != "gateway" || m[2] != "200" || m[3] != "20" {
		t.Fatalf("row %q: want label gateway, 200 requests, 20 errors", out)
	}
	if served.Load() != 200 || bad.Load() != 0 {
		t.Fatalf("server saw %d requests, %d malformed", served.Load(), bad.Load())
	}
	if !strings.Contains(errOut, "HTTP 503: boom") {
		t.Fatalf("stderr %q does not show a sample error", errOut)
	}
}

func TestRunStopsAtDuration(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(time.Millisecond)
	}))
	defer srv.Close()
	start := time.Now()
	code, out, errOut := runLoadgen(t, []string{"-url", srv.URL, "-c", "2", "-d", "300ms", "-header"}, nil)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("a 300ms run took %v", took)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || lines[0] != "| target | requests | errors | req/s | p50 | p99 |" || rowRE.FindStringSubmatch(lines[2]) == nil {
		t.Fatalf("output %q: want header and one row", out)
	}
	if m := rowRE.FindStringSubmatch(lines[2]); m[3] != "0" {
		t.Fatalf("row %q: requests cut short by the deadline were counted as errors", lines[2])
	}
}

// TestRunTrace paces two callers at 20ms and checks the trace: one line per request, in
// the run's time, the failures with their error.
func TestRunTrace(t *testing.T) {
	t.Parallel()
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1)%4 == 0 {
			http.Error(w, "boom", http.StatusBadGateway)
		}
	}))
	defer srv.Close()
	trace := filepath.Join(t.TempDir(), "trace.txt")
	before := time.Now().UnixNano()
	code, out, errOut := runLoadgen(t, []string{"-url", srv.URL, "-c", "2", "-n", "12", "-interval", "20ms", "-trace", trace}, nil)
	after := time.Now().UnixNano()
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if m := rowRE.FindStringSubmatch(strings.TrimSpace(out)); m == nil || m[2] != "12" || m[3] != "3" {
		t.Fatalf("row %q: want 12 requests, 3 errors", out)
	}
	b, err := os.ReadFile(trace)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 12 {
		t.Fatalf("trace has %d lines, want 12:\n%s", len(lines), b)
	}
	var failed int
	var first, last int64 = math.MaxInt64, 0
	for _, l := range lines {
		var start, end int64
		var outcome string
		if _, err := fmt.Sscanf(l, "%d %d %s", &start, &end, &outcome); err != nil || start < before || end < start || end > after {
			t.Fatalf("trace line %q: want START END OUTCOME within the run (%v)", l, err)
		}
		first, last = min(first, start), max(last, start)
		if outcome == "error" {
			failed++
			if !strings.HasSuffix(l, "HTTP 502: boom") {
				t.Errorf("trace line %q does not carry the error", l)
			}
		}
	}
	if failed != 3 {
		t.Errorf("trace has %d failures, want 3", failed)
	}
	// 6 calls per caller, 20ms apart: the last starts at least 100ms after the first.
	if d := time.Duration(last - first); d < 100*time.Millisecond {
		t.Errorf("12 calls of 2 callers paced at 20ms spanned %v, want at least 100ms", d)
	}
}

func TestRunWait(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		failFirst int64 // calls answered 503 before the server is "up"
		wait      string
		wantCode  int
		wantErr   string
	}{
		{name: "comes up within wait", failFirst: 5, wait: "5s", wantCode: 0},
		{name: "never comes up", failFirst: 1 << 40, wait: "200ms", wantCode: 1, wantErr: "no successful call within -wait 200ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var calls atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if calls.Add(1) <= tt.failFirst {
					http.Error(w, "starting", http.StatusServiceUnavailable)
				}
			}))
			defer srv.Close()
			code, out, errOut := runLoadgen(t, []string{"-url", srv.URL, "-c", "1", "-n", "3", "-wait", tt.wait}, nil)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d: %s", code, tt.wantCode, errOut)
			}
			if tt.wantErr != "" {
				if !strings.Contains(errOut, tt.wantErr) || out != "" {
					t.Fatalf("stdout %q, stderr %q: want no row and %q", out, errOut, tt.wantErr)
				}
				return
			}
			// The failed tries while waiting are not measured: 3 requests, 0 errors.
			if m := rowRE.FindStringSubmatch(strings.TrimSpace(out)); m == nil || m[2] != "3" || m[3] != "0" {
				t.Fatalf("row %q: want 3 requests and 0 errors after waiting", out)
			}
			if got := calls.Load(); got != tt.failFirst+1+3 {
				t.Fatalf("server saw %d calls, want %d: %d failed tries, 1 success and 3 measured", got, tt.failFirst+4, tt.failFirst)
			}
		})
	}
}

func TestRunInvalidFlags(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{name: "http without url", args: []string{"-mode", "http", "-c", "0"}, want: []string{"-url is required", "-c must be at least 1"}},
		{name: "micro without endpoint", args: []string{"-mode", "micro", "-service", "x", "-d", "0s"}, want: []string{"-service and -endpoint are required", "-d must be positive"}},
		{name: "unknown mode", args: []string{"-mode", "grpc"}, want: []string{`-mode "grpc"`}},
		{name: "bad header", args: []string{"-url", "http://x", "-H", "nocolon"}, want: []string{"not 'Name: value'"}},
		{name: "negative wait", args: []string{"-url", "http://x", "-wait", "-1s"}, want: []string{"-wait must not be negative"}},
		{name: "negative interval", args: []string{"-url", "http://x", "-interval", "-1ms"}, want: []string{"-interval must not be negative"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, _, errOut := runLoadgen(t, tt.args, nil)
			if code != 2 {
				t.Fatalf("exit %d, want 2", code)
			}
			for _, w := range tt.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr %q does not say %q", errOut, w)
				}
			}
		})
	}
}

func TestPercentile(t *testing.T) {
	t.Parallel()
	var hundred []time.Duration
	for i := 1; i <= 100; i++ {
		hundred = append(hundred, time.Duration(i)*time.Millisecond)
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		p      int
		want   time.Duration
	}{
		{name: "empty", p: 50, want: 0},
		{name: "one", sorted: []time.Duration{7}, p: 99, want: 7},
		{name: "p50 of 100", sorted: hundred, p: 50, want: 50 * time.Millisecond},
		{name: "p99 of 100", sorted: hundred, p: 99, want: 99 * time.Millisecond},
		{name: "p99 of 3", sorted: []time.Duration{1, 2, 3}, p: 99, want: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := percentile(tt.sorted, tt.p); got != tt.want {
				t.Fatalf("percentile(%d) = %v, want %v", tt.p, got, tt.want)
			}
		})
	}
}

func TestRow(t *testing.T) {
	t.Parallel()
	r := result{requests: 1000, errors: 2, elapsed: 2 * time.Second, p50: 1500 * time.Microsecond, p99: 12 * time.Millisecond}
	if got, want := r.row("micro"), "| micro | 1000 | 2 | 500 | 1.50 ms | 12.00 ms |"; got != want {
		t.Fatalf("row = %q, want %q", got, want)
	}
}
