#!/usr/bin/env bash
# Install Debian's chromium for the browser test (tests/test_report_browser.py).
# Never fails the surrounding setup: when chromium cannot be installed it says why
# and exits 0, and the browser test skips.
set -u

if command -v chromium >/dev/null 2>&1; then
    echo "chromium already installed: $(command -v chromium)"
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "apt-get is not available here: cannot install chromium; the browser test will skip"
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO="sudo -n"
    else
        echo "not root and no password-less sudo: cannot install chromium; the browser test will skip"
        exit 0
    fi
fi
export DEBIAN_FRONTEND=noninteractive
if ! $SUDO apt-get update -q; then
    echo "apt-get update failed (no network to the Debian mirror?): the browser test will skip"
    exit 0
fi
if ! $SUDO apt-get install -y -q --no-install-recommends chromium fonts-dejavu-core; then
    echo "apt-get install chromium failed: the browser test will skip"
    exit 0
fi
echo "installed: $(command -v chromium) ($(chromium --version 2>/dev/null || echo 'version unknown'))"
