#!/usr/bin/env bash
# The labeling page is tested in a real headless browser: Debian's chromium, driven by
# Playwright through its executable path (no browser download). Installs it when missing;
# called by `make test`. Without root (or passwordless sudo) it only says what to run.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" = 0 ]; then
    SUDO=""
elif sudo -n true 2>/dev/null; then
    SUDO="sudo -n"
else
    echo "chromium is not installed and this user cannot install it: run 'sudo apt-get install chromium' (the browser tests need it)" >&2
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get install -y --no-install-recommends chromium >/dev/null 2>&1 || {
    $SUDO apt-get update -qq >/dev/null
    $SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
}
command -v chromium
