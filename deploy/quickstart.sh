#!/usr/bin/env bash
# Install dependencies, build crmd, start it on 127.0.0.1 with a demo hotel
# chain (tenant "demo-hotels": the 24 guests of deploy/demo/hotel-chain.jsonl
# and 3,000 more from crm-demo, about 77,000 events leading up to today) and
# keep it running until Ctrl-C (which drains and stops it cleanly).
#
#   ./deploy/quickstart.sh               build, seed, serve in the foreground
#   ./deploy/quickstart.sh --check       build, seed, read a little back, stop
#   ./deploy/quickstart.sh --background  build, seed, leave crmd running
#
#   --state DIR   keys, data and log in DIR (default build/quickstart/state)
#   --port N      RPC on tcp://127.0.0.1:N, metrics on N+1 (default 7400)
#   --build DIR   use crmd, tools/crmctl and tools/crm-demo of this existing build
#                 directory instead of installing packages and building
#   --guests N    guests crm-demo generates (default 3000; 0: none)
#
# The generated chain leads up to the day it is first loaded (UTC) and is
# loaded once per state: a later run on the same state keeps it and
# appends no chain of another day (STATE/demo/ holds its files).
set -euo pipefail
cd "$(dirname "$0")/.."

mode=serve
build=build/quickstart
bin=""
state=""
port=7400
guests=3000
while [ $# -gt 0 ]; do
  case "$1" in
    --check) mode=check; shift ;;
    --background) mode=background; shift ;;
    --state) state="${2:?--state needs a directory}"; shift 2 ;;
    --port) port="${2:?--port needs a number}"; shift 2 ;;
    --build) bin="${2:?--build needs a build directory}"; shift 2 ;;
    --guests) guests="${2:?--guests needs a number}"; shift 2 ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "quickstart: unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ "$port" =~ ^[0-9]+$ ]] && [ "$port" -ge 1 ] && [ "$port" -le 65534 ] ||
  { echo "quickstart: --port must be 1..65534, not $port" >&2; exit 2; }
[[ "$guests" =~ ^[0-9]+$ ]] && [ "$guests" -le 1000000 ] ||
  { echo "quickstart: --guests must be 0..1000000, not $guests" >&2; exit 2; }

if [ -z "$bin" ]; then
  ./deploy/install-deps.sh
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$build" -j"$(nproc)" --target crmd crmctl crm-demo >/dev/null
  bin=$build
fi
bin=$(cd "$bin" && pwd)
[ -x "$bin/crmd" ] && [ -x "$bin/tools/crmctl" ] &&
  { [ "$guests" -eq 0 ] || [ -x "$bin/tools/crm-demo" ]; } ||
  { echo "quickstart: no crmd, tools/crmctl and tools/crm-demo in $bin" >&2; exit 1; }
ctl_bin="$bin/tools/crmctl"

mkdir -p "${state:=$build/state}"
state=$(cd "$state" && pwd)
url="tcp://127.0.0.1:$port"
http="http://127.0.0.1:$((port + 1))"
rm -f "$state/ready" "$state/crmd.pid"
# crmd's output goes to its log, so that a caller reading ours (a pipe)
# is not held open by a crmd left running in the background.
# The master key that seals guests' personal data lives beside the data
# directory, never inside it (a backup of data/ alone opens nothing).
[ -s "$state/master.key" ] || "$bin/crmd" --make-master-key "$state/master.key" >/dev/null
"$bin/crmd" --data "$state/data" --master-key "$state/master.key" --listen "$url" \
  --listen "ipc://$state/crmd.sock" --http "$http" \
  --ready-file "$state/ready" --operator-key-file "$state/operator.key" \
  </dev/null >>"$state/crmd.log" 2>&1 &
pid=$!
stop() { kill -TERM "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true; }
trap stop EXIT INT TERM
for _ in $(seq 100); do [ -f "$state/ready" ] && break; sleep 0.1; done
[ -f "$state/ready" ] || { echo "crmd did not start; see $state/crmd.log" >&2; exit 1; }

ctl=("$ctl_bin" --url "$url")
"${ctl[@]}" --key-file "$state/operator.key" tenant create demo-hotels 2>/dev/null || true
if [ ! -s "$state/admin.key" ]; then
  # The secret goes to the file only: crmctl's "shown only this once"
  # would speak of a key that is not on the screen.
  "${ctl[@]}" --key-file "$state/operator.key" --json key create \
    --tenant demo-hotels --role admin --label quickstart 2>"$state/key.err" |
    sed -n 's/.*"key": *"\([^"]*\)".*/\1/p' > "$state/admin.key" ||
    { cat "$state/key.err" >&2; exit 1; }
  rm -f "$state/key.err"
  chmod 600 "$state/admin.key"
  [ -s "$state/admin.key" ] || { echo "quickstart: no admin key was created" >&2; exit 1; }
  echo "created an admin key of demo-hotels in $state/admin.key (crmd keeps" \
    "only its hash: this file is its one copy)"
fi
# The demo events carry fixed ids, so seeding twice adds nothing; the
# first line is the summary (the rest names every guest's version).
"${ctl[@]}" --key-file "$state/admin.key" append -f deploy/demo/hotel-chain.jsonl | sed -n 1p

# The generated chain, once per state. demo/day names the day it leads up
# to as soon as a load begins, so that a load cut short is finished with
# the same events (the same ids: nothing twice), never with another day's;
# demo/loaded says it is complete.
demo="$state/demo"
if [ "$guests" -gt 0 ] && [ ! -s "$demo/loaded" ]; then
  mkdir -p "$demo"
  [ -s "$demo/day" ] || { date -u +%F > "$demo/day"; echo "$guests" > "$demo/guests"; }
  day=$(cat "$demo/day") n=$(cat "$demo/guests")
  t0=$(date +%s)
  "$bin/tools/crm-demo" --seed 1 --guests "$n" --today "$day" \
    --out "$demo/chain.jsonl" --settings "$demo/settings.json" \
    --expect "$demo/expect.json"
  "${ctl[@]}" --key-file "$state/admin.key" settings set \
    --file "$demo/settings.json" >/dev/null
  "${ctl[@]}" --key-file "$state/admin.key" append -f "$demo/chain.jsonl" |
    sed -n 1p
  echo "$day $n" > "$demo/loaded"
  echo "loaded crm-demo's chain: $n guests, 6 hotels in 5 currencies, two" \
    "years up to $day, in $(( $(date +%s) - t0 )) s ($demo/)"
elif [ -s "$demo/loaded" ]; then
  read -r day n < "$demo/loaded"
  echo "demo-hotels holds crm-demo's chain of $day ($n guests) already:" \
    "nothing appended"
fi

# The three commands the last lines suggest, with a guest of the chain.
try_cmds() {
  local x="$demo/expect.json" email="" who=""
  if [ -s "$x" ]; then
    email=$(sed -n 's/.*"duplicate_email": "\([^"]*\)".*/\1/p' "$x")
    who=$(sed -n 's/.*"try": {"stream": "\([^"]*\)".*"duplicate": "\([^"]*\)".*/\1 and \2/p' "$x")
  fi
  cat <<EOT
Three things to try:
EOT
  if [ -n "$email" ]; then
    echo "  crmctl customer find --email \"$email\"  # $who: one guest, registered twice"
  else
    echo "  crmctl customer find --name \"ana silva\"  # guest-0001"
  fi
  cat <<EOT
  crmctl kpi --chart     # NPS, CSAT and revenue of the last 12 months
  crmctl tasks today     # birthdays, arrivals, unconfirmed bookings, complaints
EOT
}

exports() {
  cat <<EOT
  export PATH="$bin/tools:\$PATH"
  export CRM_URL=$url
  export CRM_KEY=\$(cat $state/admin.key)
EOT
}

case "$mode" in
  check)
    "${ctl[@]}" ping
    "${ctl[@]}" --key-file "$state/admin.key" read guest-0001 --max 5
    "${ctl[@]}" --key-file "$state/admin.key" tail --from 1 --max 3
    stop
    trap - EXIT INT TERM
    cat <<EOT

Checked: crmd started on $url, demo-hotels is seeded,
ping, read and tail answered, and crmd is stopped again.
Log: $state/crmd.log. Without --check, the quickstart keeps crmd running.
EOT
    ;;
  background)
    echo "$pid" > "$state/crmd.pid"
    trap - EXIT INT TERM
    cat <<EOT

crmd is running in the background on $url (pid $pid, metrics:
$http/metrics). To use crmctl (the README's crmctl tour):

$(exports)

Operator key: $state/operator.key   Log: $state/crmd.log
Stop it with: kill \$(cat $state/crmd.pid)

$(try_cmds)
EOT
    ;;
  serve)
    cat <<EOT

crmd is running on $url (metrics: $http/metrics).
In another terminal (the README's crmctl tour):

$(exports)
  crmctl read guest-0001
  crmctl tail -f        # then append from a third terminal

Operator key: $state/operator.key   Log: $state/crmd.log
Ctrl-C stops crmd.

$(try_cmds)
EOT
    wait "$pid"
    ;;
esac
