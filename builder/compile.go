package builder

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	platform "github.com/micro/platform"
)

// Bounds on the compiler output quoted in a build error; the full output is in the log.
const (
	maxErrorLines = 30
	maxErrorBytes = 4 << 10
)

// env returns the go command's environment: Options.Env, then the variables the
// builder owns, which win over anything in Options.Env.
func (b *Builder) env() []string {
	env := make([]string, 0, len(b.opts.Env)+5)
	env = append(env, b.opts.Env...)
	return append(env,
		"CGO_ENABLED=0",
		"GOFLAGS=-mod=mod",
		"GOTOOLCHAIN=local",
		"GOCACHE="+b.opts.GoCache,
		"GOMODCACHE="+b.opts.GoModCache,
	)
}

// compile builds the main package in src into artifact. The binary is written inside
// work and renamed into place only when complete, so a failed or cancelled build never
// leaves a partial binary in the artifacts directory. A dev build (platform.Build.Dev)
// links without the symbol table and DWARF, most of a go-micro binary's link time;
// stack traces keep their function names and lines.
func (b *Builder) compile(ctx context.Context, src, work, artifact string, dev bool, log platform.LogWriter) error {
	rel, err := filepath.Rel(filepath.Join(work, "src"), src)
	if err != nil {
		rel = "."
	}
	log.WriteLine(fmt.Sprintf("compiling %s", filepath.ToSlash(rel)))
	tmp := filepath.Join(work, "out", filepath.Base(artifact))

	out := newLineWriter(log, work)
	args := []string{"build", "-trimpath"}
	if dev {
		args = append(args, "-ldflags=-s -w")
	}
	cmd := exec.CommandContext(ctx, b.goBin, append(args, "-o", tmp, ".")...)
	cmd.Dir = src
	cmd.Env = b.env()
	cmd.Stdout, cmd.Stderr = out, out
	cmd.WaitDelay = 5 * time.Second
	killGroupOnCancel(cmd)
	runErr := cmd.Run()
	out.Flush()
	if runErr != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if _, ok := runErr.(*exec.ExitError); !ok {
			return fmt.Errorf("run %s build: %w", b.goBin, runErr)
		}
		if line, ok := out.noSpace(); ok {
			return fmt.Errorf("go build: %s", line)
		}
		return platform.Errorf(platform.EINVALID, "compile failed:\n%s", out.errorText()).
			WithHint("run `go build .` in the service directory to reproduce")
	}
	if err := os.MkdirAll(filepath.Dir(artifact), 0o755); err != nil {
		return fmt.Errorf("create artifact dir: %w", err)
	}
	if err := os.Rename(tmp, artifact); err != nil {
		return fmt.Errorf("move artifact into place: %w", err)
	}
	return nil
}

// lineWriter splits a byte stream into lines, sends each to a LogWriter as it arrives
// and keeps them for the error message. Carriage-return progress updates collapse to
// their last state. Paths under the build's work directory are shown relative to it, so
// server paths do not leak into user-visible logs.
type lineWriter struct {
	mu     sync.Mutex
	log    platform.LogWriter
	redact string
	buf    []byte
	lines  []string
}

func newLineWriter(log platform.LogWriter, redact string) *lineWriter {
	return &lineWriter{log: log, redact: redact}
}

// Write implements io.Writer.
func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.emit(string(w.buf[:i]))
		w.buf = w.buf[i+1:]
	}
	return len(p), nil
}

// Flush sends a final line that had no newline.
func (w *lineWriter) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 {
		w.emit(string(w.buf))
		w.buf = nil
	}
}

func (w *lineWriter) emit(line string) {
	if i := strings.LastIndexByte(strings.TrimRight(line, "\r"), '\r'); i >= 0 {
		line = line[i+1:]
	}
	line = strings.TrimRight(line, "\r \t")
	if w.redact != "" {
		line = strings.ReplaceAll(line, w.redact+string(filepath.Separator)+"src", ".")
		line = strings.ReplaceAll(line, w.redact, ".")
	}
	if line == "" {
		return
	}
	w.log.WriteLine(line)
	if len(w.lines) < 4*maxErrorLines {
		w.lines = append(w.lines, line)
	}
}

// errorText returns the compiler's diagnostics, without download chatter, trimmed to a
// size fit for an error message.
func (w *lineWriter) errorText() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var (
		keep []string
		size int
	)
	for _, l := range w.lines {
		if strings.HasPrefix(l, "go: downloading ") || strings.HasPrefix(l, "go: finding ") ||
			strings.HasPrefix(l, "go: extracting ") || strings.HasPrefix(l, "go: added ") {
			continue
		}
		if len(keep) == maxErrorLines || size+len(l) > maxErrorBytes {
			keep = append(keep, "... (see the build log for the rest)")
			break
		}
		keep = append(keep, l)
		size += len(l) + 1
	}
	return strings.Join(keep, "\n")
}

// noSpace returns the first line of the go command's output that reports a full disk.
// Only lines ending in the system's message count: a compile error quoting a string
// that merely contains it ends otherwise ("... is not used").
func (w *lineWriter) noSpace() (string, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, l := range w.lines {
		if strings.HasSuffix(l, noSpaceText) {
			return l, true
		}
	}
	return "", false
}
