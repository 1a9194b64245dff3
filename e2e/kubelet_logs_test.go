package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// podLog is a pod's output, one line per write with the kubelet's RFC 3339 timestamp.
type podLog struct {
	path string
	mu   sync.Mutex
}

// writer returns a writer that appends the lines written to it to the log.
func (l *podLog) writer() io.WriteCloser {
	pr, pw := io.Pipe()
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			l.append(sc.Text())
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	return pw
}

func (l *podLog) append(line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f, err := os.OpenFile(l.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return
	}
	defer f.Close()
	fmt.Fprintf(f, "%s %s\n", time.Now().UTC().Format(time.RFC3339Nano), line)
}

// lines returns every line logged so far, with timestamps.
func (l *podLog) lines() []string {
	l.mu.Lock()
	b, _ := os.ReadFile(l.path)
	l.mu.Unlock()
	s := strings.TrimSuffix(string(b), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// tail returns at most n bytes of the last lines, without timestamps.
func (l *podLog) tail(n int) string {
	var out []string
	size := 0
	lines := l.lines()
	for i := len(lines) - 1; i >= 0; i-- {
		_, text, _ := strings.Cut(lines[i], " ")
		if size+len(text)+1 > n {
			break
		}
		size += len(text) + 1
		out = append([]string{text}, out...)
	}
	if len(out) == 0 {
		return ""
	}
	return strings.Join(out, "\n") + "\n"
}

// startNode serves the kubelet API's containerLogs over HTTPS and registers a ready Node
// that points the API server at it.
func (k *processKubelet) startNode(t *testing.T) {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(k.serveLogs))
	srv.StartTLS()
	t.Cleanup(srv.Close)
	_, port, err := net.SplitHostPort(srv.Listener.Addr().String())
	must(t, err)
	portNum, err := strconv.Atoi(port)
	must(t, err)
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: k.node}}
	if err := k.c.Create(t.Context(), node); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("create node: %v", err)
	}
	node.Status = corev1.NodeStatus{
		Addresses:       []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}},
		DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: int32(portNum)}},
		Conditions:      []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}},
	}
	if err := k.c.Status().Update(t.Context(), node); err != nil {
		t.Fatalf("node status: %v", err)
	}
	t.Cleanup(func() { _ = k.c.Delete(context.Background(), node) })
}

// serveLogs answers GET /containerLogs/<namespace>/<pod>/<container>.
func (k *processKubelet) serveLogs(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/containerLogs/"), "/")
	if len(parts) != 3 {
		http.NotFound(w, r)
		return
	}
	var p *podProcess
	k.mu.Lock()
	for _, proc := range k.procs {
		if proc.namespace == parts[0] && proc.name == parts[1] {
			p = proc
		}
	}
	k.mu.Unlock()
	if p == nil {
		http.Error(w, fmt.Sprintf("pod %s/%s has no container on this node", parts[0], parts[1]), http.StatusNotFound)
		return
	}
	q := r.URL.Query()
	stamps := q.Get("timestamps") == "true"
	write := func(lines []string) {
		var b bytes.Buffer
		for _, line := range lines {
			if !stamps {
				_, line, _ = strings.Cut(line, " ")
			}
			b.WriteString(line)
			b.WriteByte('\n')
		}
		_, _ = w.Write(b.Bytes())
	}
	lines := p.log.lines()
	sent := len(lines)
	if v := q.Get("tailLines"); v != "" {
		if n, err := strconv.Atoi(v); err == nil && n < len(lines) {
			lines = lines[len(lines)-n:]
		}
	}
	write(lines)
	if q.Get("follow") != "true" {
		return
	}
	flusher, _ := w.(http.Flusher)
	for {
		if flusher != nil {
			flusher.Flush()
		}
		select {
		case <-r.Context().Done():
			return
		case <-p.done:
			write(p.log.lines()[sent:])
			return
		case <-time.After(100 * time.Millisecond):
		}
		all := p.log.lines()
		write(all[sent:])
		sent = len(all)
	}
}
