#!/usr/bin/env bash
# Install missing dependencies, build crmd in a fresh build directory and
# run the whole test suite under ctest.
#
#   ./deploy/test.sh                      plain build (RelWithDebInfo)
#   ./deploy/test.sh --sanitize address   AddressSanitizer + UBSan build
#   ./deploy/test.sh --sanitize undefined UndefinedBehaviorSanitizer build
set -euo pipefail
cd "$(dirname "$0")/.."

sanitize=""
while [ $# -gt 0 ]; do
  case "$1" in
    --sanitize) sanitize="${2:?--sanitize needs address|undefined|thread}"; shift 2 ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "test.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

./deploy/install-deps.sh

dir="build/test${sanitize:+-$sanitize}"
rm -rf "$dir"
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCRM_TEST_CLOCK=ON \
  ${sanitize:+-DCRM_SANITIZE=$sanitize} >/dev/null
cmake --build "$dir" -j"$(nproc)"

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}"
export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp:${LSAN_OPTIONS:-}"
ctest --test-dir "$dir" --output-on-failure -j2
