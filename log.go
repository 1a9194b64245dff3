package platform

import "time"

// LogStream names the stream a log line came from.
type LogStream string

// Log streams.
const (
	Stdout LogStream = "stdout"
	Stderr LogStream = "stderr"
)

// LogEntry is one line of an instance's output.
type LogEntry struct {
	Time       time.Time `json:"time"`
	Namespace  string    `json:"namespace"`
	Service    string    `json:"service"`
	Region     string    `json:"region,omitempty"`
	InstanceID string    `json:"instance"`
	Stream     LogStream `json:"stream"`
	Line       string    `json:"line"`
}

// LogQuery selects logs of one service, across all its releases and instances.
type LogQuery struct {
	Namespace string `json:"namespace"`
	Service   string `json:"service"`
	// Tail is how many of the most recent lines to send first; 0 means 100, -1 all kept.
	Tail int `json:"tail"`
	// Follow keeps the stream open, sending new lines as they are written, until the
	// context ends.
	Follow bool `json:"follow"`
	// Region, when set, reads only that region's instances.
	Region string `json:"region,omitempty"`
}
