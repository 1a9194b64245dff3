// Command build-image builds the platform's own image from this source tree without
// Docker and without a base image (package internal/imagebuild says what is in it):
//
//	go run ./deploy/kubernetes/build-image -tag IMAGE [-tarball OUT.tar] [-push] [-no-go]
//
// It compiles ./cmd/platform statically (or takes -binary), ships the toolchain of
// `go env GOROOT` unless -no-go, then writes a tarball for `ctr -n k8s.io images import`
// (-tarball) and/or pushes to IMAGE's registry (-push, credentials from
// ~/.docker/config.json). It prints the image's digest. Run it from the module's root.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/micro/platform/internal/imagebuild"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "build-image:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	fl := flag.NewFlagSet("build-image", flag.ContinueOnError)
	fl.SetOutput(stderr)
	tag := fl.String("tag", "", "the image's reference, e.g. REGISTRY/micro-platform/platform:v0.1.0 (required)")
	out := fl.String("tarball", "", "write the image to this tarball (for ctr -n k8s.io images import)")
	push := fl.Bool("push", false, "push the image to the registry of -tag")
	binary := fl.String("binary", "", "the static platform binary; empty: build ./cmd/platform")
	noGo := fl.Bool("no-go", false, "ship no Go toolchain (an image fit only for platform mesh)")
	certs := fl.String("ca-certs", "/etc/ssl/certs/ca-certificates.crt", "CA bundle to ship; empty for none")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if *tag == "" || (*out == "" && !*push) {
		fl.Usage()
		return fmt.Errorf("want -tag and at least one of -tarball, -push")
	}
	start := time.Now()
	dir, err := os.MkdirTemp("", "build-image-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if *binary == "" {
		*binary = filepath.Join(dir, "platform")
		cmd := exec.Command("go", "build", "-trimpath", "-o", *binary, "./cmd/platform")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		cmd.Stdout, cmd.Stderr = stderr, stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("go build ./cmd/platform: %w", err)
		}
	}
	opts := imagebuild.Options{Binary: *binary, CACerts: *certs, Dir: dir, Revision: gitOutput("rev-parse", "HEAD")}
	if !*noGo {
		if opts.GoRoot, err = goEnv("GOROOT"); err != nil {
			return err
		}
	}
	img, err := imagebuild.Build(opts)
	if err != nil {
		return err
	}
	if *out != "" {
		if err := imagebuild.WriteTarball(*out, *tag, img); err != nil {
			return fmt.Errorf("write %s: %w", *out, err)
		}
	}
	if *push {
		if err := imagebuild.Push(context.Background(), *tag, img); err != nil {
			return fmt.Errorf("push %s: %w", *tag, err)
		}
	}
	d, err := img.Digest()
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "build-image: %s in %s\n", *tag, time.Since(start).Round(100*time.Millisecond))
	fmt.Fprintln(stdout, d)
	return nil
}

func goEnv(key string) (string, error) {
	out, err := exec.Command("go", "env", key).Output()
	if err != nil {
		return "", fmt.Errorf("go env %s: %w", key, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// gitOutput returns git's output, or "" outside a repository.
func gitOutput(args ...string) string {
	out, err := exec.Command("git", args...).Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}
