#!/usr/bin/env bash
# The contract's checks with buf (installed by ci/install-tools.sh into .tools/):
#   ci/check-proto.sh lint       buf lint, STANDARD rules (proto/buf.yaml)
#   ci/check-proto.sh breaking   buf breaking against the latest release tag v*; skipped (exit 0, with a
#                                message) while no release tag exists
#   ci/check-proto.sh            both
# Exit 3 when buf is not installed.
set -euo pipefail
cd "$(dirname "$0")/.."

BUF="${BUF:-.tools/node_modules/.bin/buf}"
if [ ! -x "$BUF" ]; then
    BUF="$(command -v buf || true)"
fi
if [ -z "$BUF" ]; then
    echo "buf is not installed: run 'make tools' (npm install --prefix .tools @bufbuild/buf)" >&2
    exit 3
fi

lint() {
    "$BUF" lint proto
    echo "buf lint: proto/ passes the STANDARD rules"
}

breaking() {
    local tag
    tag="$(git tag --list 'v*' --sort=-version:refname 2>/dev/null | head -n 1)"
    if [ -z "$tag" ]; then
        echo "buf breaking: skipped, no release tag v* yet (after the first release it compares with the latest)"
        return 0
    fi
    "$BUF" breaking proto --against ".git#tag=${tag},subdir=proto"
    echo "buf breaking: proto/ is wire- and source-compatible with ${tag}"
}

case "${1:-all}" in
    lint) lint ;;
    breaking) breaking ;;
    all) lint; breaking ;;
    *) echo "usage: $0 [lint|breaking]" >&2; exit 2 ;;
esac
