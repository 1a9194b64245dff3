package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	platform "github.com/micro/platform"
	"github.com/micro/platform/internal/testenv"
)

// runUntil runs the CLI until the output contains want, then cancels it as Ctrl-C would.
func runUntil(t *testing.T, f *fakeAPI, want string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &testenv.Buffer{}
	var errb bytes.Buffer
	done := make(chan int, 1)
	env := []string{"HOME=" + t.TempDir(), "TZ=UTC", "PLATFORM_SERVER=" + f.URL, "PLATFORM_TOKEN=" + adminSecret}
	go func() { done <- Run(ctx, args, strings.NewReader(""), out, &errb, env) }()
	deadline := time.After(10 * time.Second)
	for !strings.Contains(out.String(), want) {
		select {
		case code := <-done:
			t.Fatalf("exited %d before printing %q:\n%s%s", code, want, out.String(), errb.String())
		case <-deadline:
			t.Fatalf("no %q after 10s:\n%s", want, out.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	cancel()
	code := <-done
	if errb.Len() > 0 {
		t.Errorf("stderr: %s", errb.String())
	}
	return out.String(), code
}

func TestFollowUntilInterrupted(t *testing.T) {
	t.Parallel()
	f := newFakeAPI(t)
	f.follow = []*platform.Event{ev(4, "instance.crashed", "instance r-1-aa crashed: exit status 2", "r-1")}
	tests := []struct {
		name, want string
		args       []string
	}{
		{name: "logs", args: []string{"logs", "hello", "-n", "acme", "-f"}, want: "[lon1 6a7b8c9d stderr] panic: boom\n"},
		{name: "events", args: []string{"events", "-n", "acme", "-f", "--limit", "1"},
			want: "2026-03-04 10:22:00   release.rolled_out      hello              -          hello v1 is live with 2 instances\n" +
				"2026-03-04 10:22:00   instance.crashed        hello              -          instance r-1-aa crashed: exit status 2\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, code := runUntil(t, f, tt.want, tt.args...)
			if code != 0 {
				t.Errorf("exit %d after interrupt, want 0:\n%s", code, out)
			}
		})
	}
}

func TestDeployInterrupted(t *testing.T) {
	t.Parallel()
	f := newDeployFake(t, []*platform.Event{ev(4, platform.EventBuildStarted, "building hello v2", "r-2")}, "")
	ctx, cancel := context.WithCancel(context.Background())
	out, errb := &testenv.Buffer{}, &testenv.Buffer{}
	done := make(chan int, 1)
	env := []string{"HOME=" + t.TempDir(), "TZ=UTC", "PLATFORM_SERVER=" + f.URL, "PLATFORM_TOKEN=" + adminSecret}
	go func() {
		done <- Run(ctx, []string{"deploy", serviceDir(t), "-n", "acme"}, strings.NewReader(""), out, errb, env)
	}()
	for !strings.Contains(out.String(), "build.started") {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if code := <-done; code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	want := "error: stopped following release v2 of hello; the deploy goes on on the server\n" +
		"hint: follow it again with `platform events -n acme --service hello -f`\n"
	if errb.String() != want {
		t.Errorf("stderr:\n%s\nwant:\n%s", errb.String(), want)
	}
}
