#!/bin/sh
# build-image.sh IMAGE builds the platform's own image from this tree and pushes it to IMAGE
# (e.g. registry.example.com/micro-platform/platform:v0.1.0), without Docker and without a
# base image: ./build-image (internal/imagebuild) packs the local Go toolchain, the CA
# certificates and a static `platform` binary as two layers. Credentials come from
# ~/.docker/config.json. For a tarball to import into containerd instead:
#   go run ./deploy/kubernetes/build-image -tag IMAGE -tarball platform.tar
set -eu
[ $# -eq 1 ] || { echo "usage: $0 IMAGE" >&2; exit 2; }
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root" && GOFLAGS=-mod=mod exec go run ./deploy/kubernetes/build-image -tag "$1" -push
