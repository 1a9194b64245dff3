package metering

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/micro/platform"
)

// Stream defaults.
const (
	// DefaultStreamName is the JetStream stream usage events travel on.
	DefaultStreamName = "PLATFORM_USAGE"
	// DefaultSubject prefixes the subject events are published on,
	// "platform.usage.events"; the stream takes every subject under it.
	DefaultSubject = "platform.usage"
	// DefaultMaxBytes bounds the stream. It holds only what the folder has not committed
	// yet (the folder purges the rest), so it fills only while the folder cannot keep
	// up or is down; a full stream refuses new events (publishers count them dropped)
	// rather than discard stored ones.
	DefaultMaxBytes = 1 << 30
	// DefaultDuplicateWindow is how long JetStream remembers the IDs of the events
	// published, dropping a re-publish within it; the folder's store remembers them
	// much longer (FolderOptions.DedupeWindow).
	DefaultDuplicateWindow = 2 * time.Minute
)

// StreamOptions name and bound the stream. A Publisher and a Folder of the same stream
// must have the same ones.
type StreamOptions struct {
	// Name is the stream's; "" means DefaultStreamName.
	Name string
	// Subject prefixes the subjects of events; "" means DefaultSubject.
	Subject string
	// MaxBytes bounds the stream's size; 0 means DefaultMaxBytes.
	MaxBytes int64
	// DuplicateWindow is JetStream's deduplication window; 0 means
	// DefaultDuplicateWindow. At least 100ms.
	DuplicateWindow time.Duration
}

func (o *StreamOptions) setDefaults() {
	if o.Name == "" {
		o.Name = DefaultStreamName
	}
	if o.Subject == "" {
		o.Subject = DefaultSubject
	}
	if o.MaxBytes == 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.DuplicateWindow == 0 {
		o.DuplicateWindow = DefaultDuplicateWindow
	}
}

func (o *StreamOptions) validate() error {
	var problems []string
	if strings.ContainsAny(o.Name, ". *>") {
		problems = append(problems, fmt.Sprintf("stream name %q must not contain '.', '*', '>' or spaces", o.Name))
	}
	if strings.ContainsAny(o.Subject, " *>") || strings.HasPrefix(o.Subject, ".") || strings.HasSuffix(o.Subject, ".") {
		problems = append(problems, fmt.Sprintf("subject %q must be a literal subject", o.Subject))
	}
	if o.MaxBytes < 0 {
		problems = append(problems, "the stream's MaxBytes must not be negative")
	}
	if o.DuplicateWindow != 0 && o.DuplicateWindow < 100*time.Millisecond {
		problems = append(problems, "the duplicate window must be at least 100ms")
	}
	if len(problems) == 0 {
		return nil
	}
	return platform.Errorf(platform.EINVALID, "metering: %s", strings.Join(problems, "; "))
}

// eventsToken ends the subject messages of events are published on.
const eventsToken = "events"

// config is the stream's configuration: file storage, limits retention (the folder
// purges what it committed), new events refused when full.
func (o *StreamOptions) config() jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        o.Name,
		Description: "Usage events of the metering pipeline; purged once folded into the store's rollups.",
		Subjects:    []string{o.Subject + ".>"},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardNew,
		MaxBytes:    o.MaxBytes,
		Duplicates:  o.DuplicateWindow,
	}
}

// ensureStream returns the stream, creating it if missing. A stream that exists keeps
// its configuration.
func ensureStream(ctx context.Context, js jetstream.JetStream, o *StreamOptions) (jetstream.Stream, error) {
	s, err := js.Stream(ctx, o.Name)
	if err == nil {
		return s, nil
	}
	if !errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, fmt.Errorf("metering: stream %s: %w", o.Name, err)
	}
	s, err = js.CreateStream(ctx, o.config())
	if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		s, err = js.Stream(ctx, o.Name) // created meanwhile by another
	}
	if err != nil {
		return nil, fmt.Errorf("metering: create stream %s: %w", o.Name, err)
	}
	return s, nil
}

// positionKey names a stream's position in the store: its name and creation time, so
// that a stream deleted and created again (its sequences start over at 1) starts from
// a position of its own instead of skipping up to the old one.
func positionKey(info *jetstream.StreamInfo) string {
	return info.Config.Name + "@" + info.Created.UTC().Format(time.RFC3339Nano)
}
