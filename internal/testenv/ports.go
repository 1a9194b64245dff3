package testenv

import (
	"context"
	"net"
	"os/exec"
	"sync"
	"syscall"
	"testing"
)

// Ports for tests. A test must never take a free port, close it and hand its number to
// something that binds it later: anything on the machine can take the port meanwhile
// (a server's embedded NATS once did). These helpers hold what they bind until the test
// ends.

// GitDaemon serves the git repositories under base over git:// (`git daemon --inetd`,
// one process per connection) on a loopback listener it holds until the test ends, and
// returns its host:port.
func GitDaemon(tb testing.TB, base string) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				f, err := c.(*net.TCPConn).File()
				if err != nil {
					return
				}
				defer f.Close()
				cmd := exec.CommandContext(ctx, "git", "daemon", "--inetd", "--base-path="+base, "--export-all", base)
				cmd.Stdin, cmd.Stdout = f, f
				_ = cmd.Run()
			}()
		}
	}()
	tb.Cleanup(func() {
		l.Close()
		cancel()
		wg.Wait()
	})
	return l.Addr().String()
}

// ClosedAddr returns a loopback host:port that refuses connections: a socket bound to it
// but not listening, held until the test ends so that nothing else can listen there.
func ClosedAddr(tb testing.TB) string {
	tb.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		tb.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		tb.Fatal(err)
	}
	a := sa.(*syscall.SockaddrInet4)
	return (&net.TCPAddr{IP: net.IP(a.Addr[:]), Port: a.Port}).String()
}
