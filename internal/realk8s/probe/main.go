// Command probe is the network probe of the cluster scripts/real-k8s runs (image
// localhost/probe:1): a server that answers with its hostname, and a client that tells
// whether a TCP connection gets through, for tests of what NetworkPolicies let in and out.
//
//	probe serve ADDR        answers HTTP on ADDR (e.g. :8080) with the pod's hostname
//	probe dial HOST:PORT    exits 0 if a TCP connection is established within 2s, else 1
//	probe sleep DURATION    sleeps (an init container's wait, e.g. 3s)
//
// dial prints one line saying what happened: "connected" (with the server's answer when it
// is a probe), or the error. A NetworkPolicy's REJECT and a closed port both read "connection
// refused", a DROP reads as a timeout, so tests compare with a run without policies rather
// than parse the reason.
//
// A pod's own (egress) rules exist only once the policy controller has seen the pod's IP,
// which the kubelet reports after the pod's containers may have started: a dial in a pod's
// first instants is not confined. Tests wait with `probe sleep` in an init container.
package main

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// dialTimeout bounds a dial; a connection NetworkPolicies allow is made in milliseconds.
const dialTimeout = 2 * time.Second

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: probe serve ADDR | probe dial HOST:PORT | probe sleep DURATION")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "serve":
		if err := serve(os.Args[2]); err != nil {
			fmt.Fprintln(os.Stderr, "probe serve:", err)
			os.Exit(1)
		}
	case "dial":
		os.Exit(dial(os.Args[2]))
	case "sleep":
		d, err := time.ParseDuration(os.Args[2])
		if err != nil {
			fmt.Fprintln(os.Stderr, "probe sleep:", err)
			os.Exit(2)
		}
		time.Sleep(d)
	default:
		fmt.Fprintf(os.Stderr, "probe: unknown command %q\n", os.Args[1])
		os.Exit(2)
	}
}

// serve answers every request with the hostname until SIGTERM or SIGINT. As a container's
// PID 1 it must handle SIGTERM itself: the kernel ignores unhandled signals for PID 1.
func serve(addr string) error {
	host, err := os.Hostname()
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	fmt.Printf("serving on %s as %s\n", ln.Addr(), host)
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintln(w, host)
		}),
		ReadHeaderTimeout: 5 * time.Second,
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-sig
		srv.Close()
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// dial connects to target and, when the connection is made, asks for the server's
// hostname (best effort: any TCP server counts as reached).
func dial(target string) int {
	start := time.Now()
	conn, err := net.DialTimeout("tcp", target, dialTimeout)
	took := time.Since(start).Round(time.Millisecond)
	if err != nil {
		fmt.Printf("dial %s: not connected after %s: %v\n", target, took, err)
		return 1
	}
	defer conn.Close()
	answer := "no answer"
	conn.SetDeadline(time.Now().Add(dialTimeout))
	if _, err := fmt.Fprintf(conn, "GET / HTTP/1.0\r\nHost: probe\r\n\r\n"); err == nil {
		if line := lastLine(conn); line != "" {
			answer = "answer " + line
		}
	}
	fmt.Printf("dial %s: connected from %s in %s (%s)\n", target, conn.LocalAddr(), took, answer)
	return 0
}

// lastLine returns the last non-empty line the server sent: a probe's body is its hostname.
func lastLine(conn net.Conn) string {
	var last string
	sc := bufio.NewScanner(conn)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			last = l
		}
	}
	if len(last) > 200 {
		last = last[:200]
	}
	return last
}
