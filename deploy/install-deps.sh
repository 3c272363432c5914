#!/usr/bin/env bash
# Install the Debian packages crmd needs to build and test. Idempotent:
# only packages that are missing are installed. Needs root or sudo.
#
#   ./deploy/install-deps.sh        what building, testing and the quickstart use
#   ./deploy/install-deps.sh --ci   also what CI uses (debootstrap, for .ci/fresh-root)
set -euo pipefail

pkgs=(
  build-essential cmake pkg-config
  libuv1-dev liblmdb-dev lmdb-utils libnng-dev libmsgpack-dev libssl-dev
  libcmocka-dev libinih-dev libjansson-dev
  libpq-dev  # crm-bench pg (its PostgreSQL server: apt-get install postgresql)
)

# Tools the scripts run, not libraries the build links. openssl:
# deploy/gen-certs.sh, which the TLS tests run (a minimal Debian has no
# openssl binary).
pkgs+=(openssl)

while [ $# -gt 0 ]; do
  case "$1" in
    --ci) pkgs+=(debootstrap); shift ;;
    -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
    *) echo "install-deps: unknown argument $1" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' \
    || missing+=("$p")
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-deps: all packages present"
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || {
    echo "install-deps: need root or sudo to install: ${missing[*]}" >&2
    exit 1
  }
  sudo="sudo"
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq || true
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
