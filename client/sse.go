package client

import (
	"bufio"
	"bytes"
	"io"
	"strings"
)

// maxSSELine bounds one line of an event stream (a long compiler error fits).
const maxSSELine = 4 << 20

// sseMessage is one dispatched Server-Sent Events message.
type sseMessage struct {
	Event string // "message" when the stream did not name it
	Data  string
	ID    string // the last event ID seen on the stream, as EventSource keeps it
}

// sseReader parses a text/event-stream as the HTML Living Standard specifies: lines end
// with CRLF, LF or CR; "field: value" lines build a message, a blank line dispatches it;
// lines starting with ':' are comments; a message without data is not dispatched; an
// unterminated message at the end of the stream is discarded.
type sseReader struct {
	sc     *bufio.Scanner
	lastID string
}

func newSSEReader(r io.Reader) *sseReader {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxSSELine)
	sc.Split(scanSSELines)
	return &sseReader{sc: sc}
}

// Next returns the next message, or io.EOF when the stream ends cleanly.
func (r *sseReader) Next() (sseMessage, error) {
	var (
		event   string
		data    strings.Builder
		hasData bool
	)
	for r.sc.Scan() {
		line := r.sc.Text()
		if line == "" {
			if !hasData {
				event = ""
				continue
			}
			if event == "" {
				event = "message"
			}
			return sseMessage{Event: event, Data: strings.TrimSuffix(data.String(), "\n"), ID: r.lastID}, nil
		}
		if line[0] == ':' {
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "event":
			event = value
		case "data":
			data.WriteString(value)
			data.WriteByte('\n')
			hasData = true
		case "id":
			if !strings.ContainsRune(value, 0) {
				r.lastID = value
			}
		}
	}
	if err := r.sc.Err(); err != nil {
		return sseMessage{}, err
	}
	return sseMessage{}, io.EOF
}

// scanSSELines is a bufio.SplitFunc for lines ending in CRLF, LF or a lone CR.
func scanSSELines(data []byte, atEOF bool) (advance int, token []byte, err error) {
	if atEOF && len(data) == 0 {
		return 0, nil, nil
	}
	if i := bytes.IndexAny(data, "\r\n"); i >= 0 {
		if data[i] == '\n' {
			return i + 1, data[:i], nil
		}
		if i+1 < len(data) {
			if data[i+1] == '\n' {
				return i + 2, data[:i], nil
			}
			return i + 1, data[:i], nil
		}
		if atEOF {
			return i + 1, data[:i], nil
		}
		return 0, nil, nil // a CR at the end of the buffer: see whether LF follows
	}
	if atEOF {
		return len(data), data, nil
	}
	return 0, nil, nil
}
