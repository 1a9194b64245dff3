#!/bin/sh
# build-image.sh IMAGE [BASE] builds the platform's own image and pushes it to IMAGE
# (e.g. registry.example.com/micro-platform/platform:v0.1.0), without Docker: `go build`
# makes a static binary, crane (go-containerregistry, fetched through the Go module proxy)
# appends it as one layer to BASE and sets the entrypoint and a non-root user.
#
# BASE defaults to the Go toolchain image, because the control plane compiles services
# with `go build`; BASE=scratch gives an image fit only for `platform mesh`. crane reads
# registry credentials from ~/.docker/config.json (`crane auth login`).
set -eu
[ $# -ge 1 ] || { echo "usage: $0 IMAGE [BASE]" >&2; exit 2; }
image=$1
base=${2:-docker.io/library/golang:1.26}
crane="go run github.com/google/go-containerregistry/cmd/crane@v0.20.6"
root=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

mkdir -p "$tmp/root/usr/local/bin"
(cd "$root" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -o "$tmp/root/usr/local/bin/platform" ./cmd/platform)
tar -C "$tmp/root" --owner=0 --group=0 --numeric-owner --mtime=@0 --sort=name -cf "$tmp/layer.tar" usr

if [ "$base" = scratch ]; then
	$crane append --new_layer "$tmp/layer.tar" --new_tag "$image"
else
	$crane append --base "$base" --new_layer "$tmp/layer.tar" --new_tag "$image"
fi
commit=$(git -C "$root" rev-parse HEAD 2>/dev/null || echo unknown)
$crane mutate "$image" --tag "$image" \
	--entrypoint /usr/local/bin/platform --user 65532:65532 \
	--label org.opencontainers.image.source=https://github.com/micro/platform \
	--label org.opencontainers.image.revision="$commit"
$crane digest "$image"
