package metering

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/micro/platform"
)

func TestCodec(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 34, 56, 789012345, time.UTC)
	tests := []struct {
		name string
		e    platform.UsageEvent
	}{
		{"full", platform.UsageEvent{ID: "gw-1/42", Org: "o-1", Namespace: "acme", Service: "api", Region: "eu-west",
			Meter: platform.MeterRequests, Quantity: 1, Time: at}},
		{"no service or region", platform.UsageEvent{ID: "b-1", Org: "o-1", Namespace: "acme",
			Meter: platform.MeterBuildSeconds, Quantity: 93, Time: at}},
		{"a zone", platform.UsageEvent{ID: "x", Org: "o", Namespace: "n", Meter: platform.MeterEgressBytes,
			Quantity: 1 << 40, Time: at.In(time.FixedZone("X", -7*3600))}},
		{"escapes", platform.UsageEvent{ID: "a\"b\\c\n<é>&", Org: "o", Namespace: "n", Meter: platform.MeterLogBytes,
			Quantity: 0, Time: at}},
		{"negative (invalid, but it travels)", platform.UsageEvent{ID: "y", Org: "o", Namespace: "n",
			Meter: platform.MeterToolCalls, Quantity: -5, Time: at}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			enc := appendEvent(nil, &tc.e)
			// It is the JSON of a UsageEvent, for any reader.
			var viaJSON platform.UsageEvent
			if err := json.Unmarshal(enc, &viaJSON); err != nil {
				t.Fatalf("json.Unmarshal(%s): %v", enc, err)
			}
			same(t, "json.Unmarshal", viaJSON, tc.e)
			var got platform.UsageEvent
			if err := decodeEvent(enc, &got); err != nil {
				t.Fatal(err)
			}
			same(t, "decodeEvent", got, tc.e)
			// And decodeEvent reads what encoding/json writes.
			marshalled, err := json.Marshal(tc.e)
			if err != nil {
				t.Fatal(err)
			}
			if err := decodeEvent(marshalled, &got); err != nil {
				t.Fatal(err)
			}
			same(t, "decodeEvent of json.Marshal", got, tc.e)
		})
	}
	t.Run("the fast path", func(t *testing.T) {
		var got platform.UsageEvent
		if !fastDecode(appendEvent(nil, &tests[0].e), &got) || !fastDecode(appendEvent(nil, &tests[1].e), &got) {
			t.Fatal("fastDecode refused what appendEvent wrote")
		}
	})
	t.Run("garbage", func(t *testing.T) {
		for _, data := range []string{"", "{", "null x", `{"id":"a","quantity":"x"}`, `{"id":"a","time":"yesterday"}`} {
			var got platform.UsageEvent
			if err := decodeEvent([]byte(data), &got); err == nil {
				t.Errorf("decodeEvent(%q) = nil error, %+v", data, got)
			}
		}
	})
}

// same fails t unless got and want are the same event (times equal, whatever the zone).
func same(t *testing.T, what string, got, want platform.UsageEvent) {
	t.Helper()
	if !got.Time.Equal(want.Time) {
		t.Fatalf("%s: time %v, want %v", what, got.Time, want.Time)
	}
	got.Time, want.Time = time.Time{}, time.Time{}
	if got != want {
		t.Fatalf("%s: %+v, want %+v", what, got, want)
	}
}

func BenchmarkCodec(b *testing.B) {
	e := platform.UsageEvent{ID: "gw-7f3a/0000000042", Org: "o-1", Namespace: "acme", Service: "api", Region: "local",
		Meter: platform.MeterRequests, Quantity: 1, Time: time.Now()}
	b.Run("encode", func(b *testing.B) {
		var buf []byte
		for b.Loop() {
			buf = appendEvent(buf[:0], &e)
		}
	})
	enc := appendEvent(nil, &e)
	b.Run("decode", func(b *testing.B) {
		var got platform.UsageEvent
		for b.Loop() {
			if err := decodeEvent(enc, &got); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("json.Unmarshal", func(b *testing.B) {
		var got platform.UsageEvent
		for b.Loop() {
			if err := json.Unmarshal(enc, &got); err != nil {
				b.Fatal(err)
			}
		}
	})
}
