#!/usr/bin/env bash
# Installs the tools the checks beyond pytest need, idempotently and quietly:
#   - Debian packages (as root, via apt-get): chromium (headless report test), prometheus (promtool);
#   - buf, the protobuf linter, from npm into the project-local .tools/ (never globally).
# A tool already present is left alone. Prints one line per tool; details go to .tools/install.log.
set -euo pipefail
cd "$(dirname "$0")/.."

BUF_VERSION="1.75.0"
TOOLS=".tools"
LOG="$TOOLS/install.log"
mkdir -p "$TOOLS"
: > "$LOG"

apt_packages=()
command -v promtool >/dev/null 2>&1 || apt_packages+=(prometheus)
command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || apt_packages+=(chromium)
if ((${#apt_packages[@]})); then
    if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        echo "tools: cannot install ${apt_packages[*]} (needs root and apt-get); their checks will be skipped"
    else
        echo "tools: apt-get install ${apt_packages[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >>"$LOG" 2>&1
        apt-get install -y -qq --no-install-recommends "${apt_packages[@]}" >>"$LOG" 2>&1
    fi
fi

BUF="$TOOLS/node_modules/.bin/buf"
if [ ! -x "$BUF" ] || [ "$("$BUF" --version 2>/dev/null)" != "$BUF_VERSION" ]; then
    if command -v npm >/dev/null 2>&1; then
        echo "tools: npm install @bufbuild/buf@$BUF_VERSION into $TOOLS/"
        npm install --prefix "$TOOLS" --no-audit --no-fund --silent --no-save "@bufbuild/buf@$BUF_VERSION" >>"$LOG" 2>&1
    else
        echo "tools: no npm; buf checks will be skipped"
    fi
fi
have=()
command -v promtool >/dev/null 2>&1 && have+=("promtool $(promtool --version 2>&1 | head -1 | awk '{print $3}')")
[ -x "$BUF" ] && have+=("buf $("$BUF" --version)")
command -v chromium >/dev/null 2>&1 && have+=("chromium")
(IFS=","; echo "tools: ${have[*]:-none}")
exit 0
