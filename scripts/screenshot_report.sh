#!/usr/bin/env bash
# Screenshot a crowdpulse HTML report with headless Chromium, offline.
# Usage: scripts/screenshot_report.sh REPORT.html OUT.png [WIDTH] [HEIGHT]
# (Chromium comes from scripts/install_test_browser.sh.)
set -euo pipefail
if [ $# -lt 2 ]; then
    echo "usage: $0 REPORT.html OUT.png [WIDTH=1366] [HEIGHT=3600]" >&2
    exit 2
fi
REPORT="$1"; OUT="$2"; WIDTH="${3:-1366}"; HEIGHT="${4:-3600}"
BROWSER="${CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}"
if [ -z "$BROWSER" ]; then
    echo "chromium not found: run scripts/install_test_browser.sh first" >&2
    exit 1
fi
if [ ! -f "$REPORT" ]; then
    echo "no such report: $REPORT" >&2
    exit 1
fi
PROFILE="$(mktemp -d)"
trap 'rm -rf "$PROFILE"' EXIT
ABS="$(cd "$(dirname "$REPORT")" && pwd)/$(basename "$REPORT")"
OUT_ABS="$(cd "$(dirname "$OUT")" && pwd)/$(basename "$OUT")"
"$BROWSER" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --hide-scrollbars --user-data-dir="$PROFILE" --window-size="${WIDTH},${HEIGHT}" \
    --virtual-time-budget=15000 --screenshot="$OUT_ABS" "file://$ABS" 2>/dev/null
echo "wrote $OUT (${WIDTH}x${HEIGHT})"
