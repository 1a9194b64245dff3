package metering

import (
	"bytes"
	"encoding/json"
	"strconv"
	"time"

	"github.com/micro/platform"
)

// A message carries one event or more as JSON lines: the JSON of each
// platform.UsageEvent, separated by newlines (which JSON escapes inside strings), so
// that any NATS client can read the stream. appendEvent writes an event without
// reflection (the publisher's loop encodes every event); decodeEvent reads what
// appendEvent writes on a fast path and anything else through encoding/json.

// splitEvents calls fn with each line of data that is not empty.
func splitEvents(data []byte, fn func(line []byte)) {
	for len(data) > 0 {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		if len(bytes.TrimSpace(line)) > 0 {
			fn(line)
		}
	}
}

// appendEvent appends the JSON of e to b: the fields of platform.UsageEvent, with its
// names, in its order, service and region omitted when empty.
func appendEvent(b []byte, e *platform.UsageEvent) []byte {
	b = append(b, `{"id":`...)
	b = appendString(b, e.ID)
	b = append(b, `,"org":`...)
	b = appendString(b, e.Org)
	b = append(b, `,"namespace":`...)
	b = appendString(b, e.Namespace)
	if e.Service != "" {
		b = append(b, `,"service":`...)
		b = appendString(b, e.Service)
	}
	if e.Region != "" {
		b = append(b, `,"region":`...)
		b = appendString(b, e.Region)
	}
	b = append(b, `,"meter":`...)
	b = appendString(b, string(e.Meter))
	b = append(b, `,"quantity":`...)
	b = strconv.AppendInt(b, e.Quantity, 10)
	b = append(b, `,"time":"`...)
	b = e.Time.AppendFormat(b, time.RFC3339Nano)
	return append(b, `"}`...)
}

// appendString appends s as a JSON string: as it is when it needs no escape (printable
// ASCII without quote or backslash), through encoding/json otherwise.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x80 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always marshals
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// decodeEvent reads an event from its JSON.
func decodeEvent(data []byte, e *platform.UsageEvent) error {
	if fastDecode(data, e) {
		return nil
	}
	*e = platform.UsageEvent{}
	return json.Unmarshal(data, e)
}

// fastDecode reads exactly what appendEvent writes for strings that need no escape,
// and reports false, leaving e in any state, for anything else.
func fastDecode(data []byte, e *platform.UsageEvent) bool {
	d := decoder{data: data}
	*e = platform.UsageEvent{}
	if !d.lit(`{"id":`) || !d.str(&e.ID) || !d.lit(`,"org":`) || !d.str(&e.Org) ||
		!d.lit(`,"namespace":`) || !d.str(&e.Namespace) {
		return false
	}
	if d.lit(`,"service":`) && !d.str(&e.Service) {
		return false
	}
	if d.lit(`,"region":`) && !d.str(&e.Region) {
		return false
	}
	var meter, at string
	if !d.lit(`,"meter":`) || !d.str(&meter) || !d.lit(`,"quantity":`) || !d.int(&e.Quantity) ||
		!d.lit(`,"time":`) || !d.str(&at) || !d.lit(`}`) || d.i != len(d.data) {
		return false
	}
	e.Meter = platform.Meter(meter)
	t, err := time.Parse(time.RFC3339Nano, at)
	if err != nil {
		return false
	}
	e.Time = t
	return true
}

// decoder reads data from i on.
type decoder struct {
	data []byte
	i    int
}

// lit consumes s if data continues with it.
func (d *decoder) lit(s string) bool {
	if len(d.data)-d.i < len(s) || string(d.data[d.i:d.i+len(s)]) != s {
		return false
	}
	d.i += len(s)
	return true
}

// str consumes a JSON string without escapes into *s.
func (d *decoder) str(s *string) bool {
	if d.i >= len(d.data) || d.data[d.i] != '"' {
		return false
	}
	for j := d.i + 1; j < len(d.data); j++ {
		switch c := d.data[j]; {
		case c == '"':
			*s = string(d.data[d.i+1 : j])
			d.i = j + 1
			return true
		case c == '\\' || c < 0x20 || c >= 0x80:
			return false
		}
	}
	return false
}

// int consumes a JSON integer into *n.
func (d *decoder) int(n *int64) bool {
	j := d.i
	if j < len(d.data) && d.data[j] == '-' {
		j++
	}
	for j < len(d.data) && d.data[j] >= '0' && d.data[j] <= '9' {
		j++
	}
	v, err := strconv.ParseInt(string(d.data[d.i:j]), 10, 64)
	if err != nil {
		return false
	}
	*n, d.i = v, j
	return true
}
