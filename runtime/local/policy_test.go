package local_test

import (
	"testing"
	"time"

	"github.com/micro/platform/runtime/local"
)

func TestBackoffDelay(t *testing.T) {
	t.Parallel()
	b := local.Backoff{Initial: 500 * time.Millisecond, Max: 30 * time.Second, Factor: 2}
	tests := []struct {
		n    int
		want time.Duration
	}{
		{1, 500 * time.Millisecond}, {2, time.Second}, {3, 2 * time.Second}, {7, 30 * time.Second}, {100, 30 * time.Second},
	}
	for _, tt := range tests {
		if got := b.Delay(tt.n); got != tt.want {
			t.Errorf("Delay(%d) = %v, want %v", tt.n, got, tt.want)
		}
	}
	if got := (local.Backoff{}).Delay(1); got != local.DefaultBackoff().Initial {
		t.Errorf("zero Backoff Delay(1) = %v, want the default %v", got, local.DefaultBackoff().Initial)
	}
}

func TestTracker(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	b := local.Backoff{Initial: time.Second, Max: 8 * time.Second, Factor: 2, ResetAfter: time.Minute}
	type run struct {
		start, end time.Duration // since t0
		delay      time.Duration
		loop       bool
	}
	tests := []struct {
		name string
		runs []run
	}{
		{"backoff grows then crash loops at max", []run{
			{0, 0, time.Second, false},
			{1 * time.Second, 1 * time.Second, 2 * time.Second, false},
			{3 * time.Second, 3 * time.Second, 4 * time.Second, false},
			{7 * time.Second, 7 * time.Second, 8 * time.Second, true},
			{15 * time.Second, 15 * time.Second, 8 * time.Second, true},
		}},
		{"a stable run resets everything", []run{
			{0, 0, time.Second, false},
			{1 * time.Second, 1 * time.Second, 2 * time.Second, false},
			{3 * time.Second, 3 * time.Second, 4 * time.Second, false},
			{7 * time.Second, 10 * time.Minute, time.Second, false},
		}},
		{"exits spread beyond the window never crash loop", []run{
			{0, 0, time.Second, false},
			{50 * time.Second, 50 * time.Second, 2 * time.Second, false},
			{100 * time.Second, 100 * time.Second, 4 * time.Second, false},
			{150 * time.Second, 150 * time.Second, 8 * time.Second, false},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := local.NewTracker(b, local.CrashLoop{Restarts: 4, Window: time.Minute})
			for i, r := range tt.runs {
				delay, loop := tr.Exited(t0.Add(r.start), t0.Add(r.end))
				if delay != r.delay || loop != r.loop {
					t.Fatalf("exit %d: got %v, %v; want %v, %v", i+1, delay, loop, r.delay, r.loop)
				}
			}
		})
	}
}
