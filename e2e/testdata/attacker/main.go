// Command attacker is a go-micro service written to attack the platform from inside: each
// endpoint tries what a hostile tenant would and reports what happened, so the e2e tests
// can assert that every attempt is refused.
package main

import (
	"context"
	"fmt"
	"log"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	micro "go-micro.dev/v5"
)

// Targets are what the attacker goes after.
type Targets struct {
	Read   []string `json:"read"`   // files and directories to read or list
	Write  []string `json:"write"`  // files to overwrite
	Signal []int    `json:"signal"` // host PIDs to signal and ptrace
	Dial   []string `json:"dial"`   // host:port to connect to
	Escape bool     `json:"escape"` // try the kernel's namespace and mount doors
}

// Results map each target to "ok: …" (it worked) or the error.
type Results struct {
	Results map[string]string `json:"results"`
	Procs   int               `json:"procs"` // processes visible in /proc
	UID     int               `json:"uid"`
}

// HogRequest asks for MiB of memory to be allocated and touched.
type HogRequest struct {
	MiB int `json:"mib"`
}

// HogResponse is never sent when the limit holds.
type HogResponse struct {
	Allocated int `json:"allocated"`
}

// BurnRequest asks for Threads goroutines spinning for Millis milliseconds.
type BurnRequest struct {
	Threads int `json:"threads"`
	Millis  int `json:"millis"`
}

// BurnResponse says how much CPU time the process got while spinning, against the wall
// time: their ratio is how many cores it used.
type BurnResponse struct {
	CPUMillis  int64 `json:"cpu_millis"`
	WallMillis int64 `json:"wall_millis"`
}

// Attack is the attacker's handler.
type Attack struct{}

// Run tries every target.
func (a *Attack) Run(ctx context.Context, t *Targets, r *Results) error {
	r.Results = map[string]string{}
	r.UID = os.Getuid()
	for _, p := range t.Read {
		r.Results["read "+p] = read(p)
	}
	for _, p := range t.Write {
		r.Results["write "+p] = outcome(os.WriteFile(p, []byte("owned"), 0o755), "written")
	}
	for _, pid := range t.Signal {
		r.Results["signal "+strconv.Itoa(pid)] = outcome(syscall.Kill(pid, syscall.SIGTERM), "signalled")
		r.Results["ptrace "+strconv.Itoa(pid)] = ptrace(pid)
	}
	for _, addr := range t.Dial {
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err == nil {
			c.Close()
		}
		r.Results["dial "+addr] = outcome(err, "connected")
	}
	if t.Escape {
		r.Results["unshare a user namespace"] = outcome(syscall.Unshare(syscall.CLONE_NEWUSER), "unshared")
		r.Results["mount a tmpfs"] = outcome(syscall.Mount("tmpfs", "/tmp", "tmpfs", 0, ""), "mounted")
		r.Results["chroot"] = outcome(syscall.Chroot("/tmp"), "chrooted")
	}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err == nil {
			r.Procs++
		}
	}
	return nil
}

// Hog allocates and touches memory, one MiB at a time.
func (a *Attack) Hog(ctx context.Context, req *HogRequest, rsp *HogResponse) error {
	var keep [][]byte
	for i := 0; i < req.MiB; i++ {
		b := make([]byte, 1<<20)
		for j := range b {
			b[j] = byte(j)
		}
		keep = append(keep, b)
	}
	rsp.Allocated = len(keep)
	return nil
}

// Burn spins to take more CPU than the instance's size grants.
func (a *Attack) Burn(ctx context.Context, req *BurnRequest, rsp *BurnResponse) error {
	cpu := func() int64 {
		var ru syscall.Rusage
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return ru.Utime.Nano()/1e6 + ru.Stime.Nano()/1e6
	}
	start, c0 := time.Now(), cpu()
	deadline := start.Add(time.Duration(req.Millis) * time.Millisecond)
	done := make(chan struct{})
	for range req.Threads {
		go func() {
			x := 0
			for time.Now().Before(deadline) {
				for i := 0; i < 1000; i++ {
					x += i
				}
			}
			_ = x
			done <- struct{}{}
		}()
	}
	for range req.Threads {
		<-done
	}
	rsp.CPUMillis, rsp.WallMillis = cpu()-c0, time.Since(start).Milliseconds()
	return nil
}

func read(p string) string {
	fi, err := os.Stat(p)
	if err != nil {
		return err.Error()
	}
	if fi.IsDir() {
		ents, err := os.ReadDir(p)
		if err != nil {
			return err.Error()
		}
		names := make([]string, 0, len(ents))
		for _, e := range ents {
			names = append(names, e.Name())
		}
		return "ok: " + strings.Join(names, ",")
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("ok: %d bytes", len(b))
}

func ptrace(pid int) string {
	err := syscall.PtraceAttach(pid)
	if err == nil {
		_ = syscall.PtraceDetach(pid)
	}
	return outcome(err, "attached")
}

func outcome(err error, ok string) string {
	if err != nil {
		return err.Error()
	}
	return "ok: " + ok
}

func main() {
	service := micro.New("attacker")
	service.Init()
	if err := service.Handle(new(Attack)); err != nil {
		log.Fatal(err)
	}
	if err := service.Run(); err != nil {
		log.Fatal(err)
	}
}
