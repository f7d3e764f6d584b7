#!/usr/bin/env bash
# `make clients`: the contract's clients in other languages, built from proto/ the way their users would.
#   - Go: Debian's Go toolchain, protoc-gen-go and protoc-gen-go-grpc, and the packaged Go modules (grpc-go,
#     google.golang.org/protobuf, genproto) via apt-get (as root); `buf generate` (buf.gen.yaml) writes the
#     Go code into .build/gopath/src/, and clients/go/mentormatch-client is built in GOPATH mode against it
#     and Debian's /usr/share/gocode (no Go module downloads: the Go module proxy is not reachable from CI)
#     into .build/bin/mentormatch-go-client.
#   - Node: `npm ci` in clients/node (@grpc/grpc-js, @grpc/proto-loader, protobufjs, as package-lock.json pins).
# tests/test_other_language_clients.py calls a live server with both. Prints one line per step.
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=.build
BUF="${BUF:-.tools/node_modules/.bin/buf}"
LOG="$BUILD/clients.log"
mkdir -p "$BUILD/bin"
: > "$LOG"

# The Debian packages (bookworm): golang/protobuf 1.5 (not 1.3, which cannot marshal the messages that
# protoc-gen-go 1.28 generates) for grpc-go's codec.
packages=(golang-go protobuf-compiler protoc-gen-go protoc-gen-go-grpc golang-google-grpc-dev
          golang-google-protobuf-dev golang-google-genproto-dev golang-github-golang-protobuf-1-5-dev)
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
    if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        echo "clients: cannot install ${missing[*]} (needs root and apt-get)" >&2
        exit 1
    fi
    echo "clients: apt-get install ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >>"$LOG" 2>&1
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >>"$LOG" 2>&1
fi

if [ ! -x "$BUF" ]; then
    echo "clients: buf is not installed: run 'make tools'" >&2
    exit 1
fi
rm -rf "$BUILD/gopath/src/mentormatch"
"$BUF" generate
echo "clients: buf generate: $(find "$BUILD/gopath/src/mentormatch" -name '*.go' | wc -l) Go files (buf.gen.yaml)"

export GO111MODULE=off GOPATH="$PWD/$BUILD/gopath:/usr/share/gocode" GOFLAGS=
if [ -z "${GOCACHE:-}" ] && [ -z "${HOME:-}" ] && [ -z "${XDG_CACHE_HOME:-}" ]; then
    export GOCACHE="$PWD/$BUILD/gocache"  # Go's own cache is under $HOME; without one, beside the build
fi
unformatted="$(gofmt -l clients/go)"
if [ -n "$unformatted" ]; then
    echo "clients: gofmt would change: $unformatted" >&2
    exit 1
fi
go build -o "$BUILD/bin/mentormatch-go-client" ./clients/go/mentormatch-client
echo "clients: go build: $BUILD/bin/mentormatch-go-client ($(go version | awk '{print $3}'))"

npm ci --prefix clients/node --no-audit --no-fund --silent >>"$LOG" 2>&1
echo "clients: npm ci: clients/node ($(node --version), @grpc/grpc-js $(node -p 'require("./clients/node/node_modules/@grpc/grpc-js/package.json").version'))"
