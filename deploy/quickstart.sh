#!/usr/bin/env bash
# Install dependencies, build crmd, start it on 127.0.0.1 with a demo hotel
# chain (tenant "demo-hotels", 24 guests, ~500 events) and keep it running
# until Ctrl-C (which drains and stops it cleanly).
#
#   ./deploy/quickstart.sh            build, seed, serve in the foreground
#   ./deploy/quickstart.sh --check    build, seed, run a few reads, stop
set -euo pipefail
cd "$(dirname "$0")/.."

check=0
[ "${1:-}" = "--check" ] && check=1

./deploy/install-deps.sh
build=build/quickstart
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j"$(nproc)" --target crmd crmctl >/dev/null
ctl_bin="$build/tools/crmctl"

state="$build/state"
mkdir -p "$state"
url="tcp://127.0.0.1:7400"
rm -f "$state/ready"
"$build/crmd" --data "$state/data" --listen "$url" \
  --listen "ipc://$PWD/$state/crmd.sock" --http http://127.0.0.1:7401 \
  --ready-file "$state/ready" --operator-key-file "$state/operator.key" \
  2>>"$state/crmd.log" &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null || true' EXIT INT TERM
for _ in $(seq 100); do [ -f "$state/ready" ] && break; sleep 0.1; done
[ -f "$state/ready" ] || { echo "crmd did not start; see $state/crmd.log" >&2; exit 1; }

ctl=("$ctl_bin" --url "$url")
"${ctl[@]}" --key-file "$state/operator.key" tenant create demo-hotels 2>/dev/null || true
if [ ! -s "$state/admin.key" ]; then
  "${ctl[@]}" --key-file "$state/operator.key" --json key create \
    --tenant demo-hotels --role admin --label quickstart |
    sed -n 's/.*"key": *"\([^"]*\)".*/\1/p' > "$state/admin.key"
  chmod 600 "$state/admin.key"
fi
# the demo events carry fixed ids, so seeding twice adds nothing
"${ctl[@]}" --key-file "$state/admin.key" append -f deploy/demo/hotel-chain.jsonl

cat <<EOT

crmd is running on $url (metrics: http://127.0.0.1:7401/metrics).
Try, in another terminal:

  export CRM_URL=$url CRM_KEY=\$(cat $state/admin.key)
  $build/tools/crmctl read guest-0001
  $build/tools/crmctl tail --from 1 --max 10
  $build/tools/crmctl tail -f        # then append from a third terminal
  $build/tools/crmctl types          # the event catalogue

Operator key: $state/operator.key   Log: $state/crmd.log
EOT

if [ "$check" = 1 ]; then
  "${ctl[@]}" --key-file "$state/admin.key" read guest-0001 --max 5
  "${ctl[@]}" --key-file "$state/admin.key" tail --from 1 --max 3
  exit 0
fi
echo "Ctrl-C stops crmd."
wait "$pid"
