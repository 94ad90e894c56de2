#!/usr/bin/env bash
# Set up everything the tests need and run them: the README's test command, and what CI runs.
# Extra arguments go to pytest (e.g. `bash scripts/test.sh -m slow`).
set -uo pipefail
cd "$(dirname "$0")/.."
# torch is pinned to the local CPU build; an unpinned torch would pull gigabytes of CUDA packages.
# The slow run also installs the optional Ray extra, so the Ray engine's tests run there (they skip without it).
extras="test"
case " $* " in *slow*) extras="test,ray" ;; esac
python3 -m pip install -q --disable-pip-version-check torch==2.13.0 -e ".[$extras]" || exit 1
if [ -f scripts/install_test_browser.sh ]; then
    bash scripts/install_test_browser.sh || echo "note: chromium could not be installed; browser tests will skip"
fi
python3 -m pytest "$@"
rc=$?
if [ "$rc" -eq 5 ]; then
    echo "error: pytest collected no tests" >&2
fi
exit "$rc"
