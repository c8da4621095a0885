#!/usr/bin/env bash
# Autobahn|Testsuite (the fuzzing client, wstest -m fuzzingclient) against Pounce's WebSocket echo and against
# Kestrel's, for comparison. Needs docker (the suite is the crossbario/autobahn-testsuite image; it is not on PyPI:
# the "autobahn" package there is the WAMP library, not the testsuite). See bench/autobahn/README.md.
#
# Usage: bench/autobahn/run.sh
#        CASES='["1.*","2.*"]' bench/autobahn/run.sh          (a subset)
#
# Settings (environment):
#   SERVERS="pounce kestrel"  targets, each an agent in the report:
#                             pounce        the demo app of the pounce command (dotnet run --project src/Pounce.Cli), /ws
#                             kestrel       bench/Pounce.BenchApp --server kestrel, /ws (the same echo on Kestrel)
#                             pounce-bench  bench/Pounce.BenchApp --server pounce, /ws (the very code Kestrel runs)
#   CASES='["*"]'             cases to run (JSON list)
#   EXCLUDE='["12.*","13.*"]' cases left out: permessage-deflate (12, 13), which the echo endpoints do not enable;
#                             what remains (1.* to 10.*) is the 301 cases Kestrel is quoted for
#   IMAGE=crossbario/autobahn-testsuite
#   OUT=bench/autobahn/reports/<date>   where the HTML/JSON reports and summary.txt go
#   NO_BUILD=0                1 skips the Release builds
#   START_TIMEOUT=30          seconds a server may take to accept connections
# Exit status: 0 when Pounce does at least as well as Kestrel on every case (and has no FAILED case Kestrel passes),
# 1 otherwise, 2 when it could not run (no docker, a server did not start).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)

SERVERS=${SERVERS:-"pounce kestrel"}
CASES=${CASES:-'["*"]'}
EXCLUDE=${EXCLUDE:-'["12.*","13.*"]'}
IMAGE=${IMAGE:-crossbario/autobahn-testsuite}
OUT=${OUT:-$HERE/reports/$(date -u +%Y-%m-%dT%H%M%SZ)}
NO_BUILD=${NO_BUILD:-0}
START_TIMEOUT=${START_TIMEOUT:-30}

CLI_DLL=$ROOT/src/Pounce.Cli/bin/Release/net10.0/Pounce.Cli.dll
BENCH_DLL=$ROOT/bench/Pounce.BenchApp/bin/Release/net10.0/Pounce.BenchApp.dll
WORK=$(mktemp -d "${TMPDIR:-/tmp}/pounce-autobahn.XXXXXX")
PIDS=()

log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 2; }

# shellcheck source=../process.sh
source "$(dirname "${BASH_SOURCE[0]}")/../process.sh"

trap stop_all_and_clean EXIT
trap 'log "interrupted"; exit 130' INT TERM

command -v dotnet >/dev/null || die "dotnet (the .NET 10 SDK) is not on PATH"
command -v jq >/dev/null || die "jq is missing (apt-get install jq)"
command -v docker >/dev/null || die "docker is missing: the Autobahn testsuite runs from the $IMAGE image"
docker info >/dev/null 2>&1 || die "docker cannot reach its daemon (docker info failed)"

if [[ $NO_BUILD != 1 ]]; then
  log "building the pounce command and the bench app (Release)"
  dotnet build "$ROOT/src/Pounce.Cli" -c Release -nologo -v q >&2
  dotnet build "$ROOT/bench/Pounce.BenchApp" -c Release -nologo -v q >&2
fi

free_port() { # a port free right now on 127.0.0.1
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null \
    || echo $((20000 + RANDOM % 20000))
}

wait_for_port() { # name pid port
  local name=$1 pid=$2 port=$3 deadline=$((SECONDS + START_TIMEOUT))
  while (( SECONDS < deadline )); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    kill -0 "$pid" 2>/dev/null || die "$name exited: $(tail -n 3 "$WORK/$name.err" | tr '\n' ' ')"
    sleep 0.2
  done
  die "$name did not accept connections on port $port within ${START_TIMEOUT}s"
}

# start NAME: starts one target on a free port; appends its fuzzingclient entry to $WORK/servers.jsonl
start() {
  local name=$1 port
  port=$(free_port)
  local -a command
  case $name in
    pounce) command=(dotnet "$CLI_DLL" --host 127.0.0.1 --port "$port" --no-access-log) ;;
    kestrel) command=(dotnet "$BENCH_DLL" --server kestrel --port "$port") ;;
    pounce-bench) command=(dotnet "$BENCH_DLL" --server pounce --port "$port") ;;
    *) die "unknown server '$name' in SERVERS (pounce, kestrel, pounce-bench)" ;;
  esac
  "${command[@]}" > "$WORK/$name.out" 2> "$WORK/$name.err" < /dev/null &
  PIDS+=($!)
  wait_for_port "$name" "$!" "$port"
  log "$name listening on 127.0.0.1:$port"
  jq -nc --arg agent "$name" --arg url "ws://127.0.0.1:$port/ws" '{agent: $agent, url: $url}' >> "$WORK/servers.jsonl"
}

: > "$WORK/servers.jsonl"
for s in $SERVERS; do start "$s"; done

mkdir -p "$OUT"
jq -s --argjson cases "$CASES" --argjson exclude "$EXCLUDE" \
  '{outdir: "/reports", servers: ., cases: $cases, "exclude-cases": $exclude, "exclude-agent-cases": {}}' \
  "$WORK/servers.jsonl" > "$WORK/fuzzingclient.json"
cp "$WORK/fuzzingclient.json" "$OUT/"

# --network host: the container reaches the servers on the host's 127.0.0.1 (Linux; on Docker Desktop bind the
# servers to 0.0.0.0 and use host.docker.internal in the URLs instead).
log "running $IMAGE (fuzzingclient); reports in $OUT"
docker run --rm --network host -v "$WORK:/config:ro" -v "$OUT:/reports" "$IMAGE" \
  wstest -m fuzzingclient -s /config/fuzzingclient.json >&2

INDEX=$OUT/index.json
[[ -f $INDEX ]] || die "no $INDEX: the testsuite wrote no report"

# Per agent: how many cases of each behaviour (OK, NON-STRICT, INFORMATIONAL, UNIMPLEMENTED, FAILED), for the
# case itself and for its closing handshake.
{
  echo "Autobahn|Testsuite fuzzingclient, cases $CASES excluding $EXCLUDE"
  jq -r 'to_entries[] | .key as $agent | .value as $cases
    | "\($agent): \($cases | length) cases; behavior " + ([$cases[] | .behavior] | group_by(.) | map("\(.[0])=\(length)") | join(" "))
      + "; close " + ([$cases[] | .behaviorClose] | group_by(.) | map("\(.[0])=\(length)") | join(" "))' "$INDEX"
} | tee "$OUT/summary.txt"

# Pounce against Kestrel, case by case: any case where a Pounce agent does worse is listed and fails the run.
status=0
if jq -e 'has("kestrel")' "$INDEX" >/dev/null; then
  for agent in pounce pounce-bench; do
    jq -e --arg a "$agent" 'has($a)' "$INDEX" >/dev/null || continue
    worse=$(jq -r --arg a "$agent" '
      def rank: {"OK": 0, "NON-STRICT": 1, "INFORMATIONAL": 1, "UNIMPLEMENTED": 2, "FAILED": 3}[.] // 3;
      .[$a] as $p | .kestrel as $k
      | $p | keys[] as $c
      | select(($k[$c] != null) and (($p[$c].behavior | rank) > ($k[$c].behavior | rank)
                                      or ($p[$c].behaviorClose | rank) > ($k[$c].behaviorClose | rank)))
      | "\($c): \($a) \($p[$c].behavior)/\($p[$c].behaviorClose), kestrel \($k[$c].behavior)/\($k[$c].behaviorClose)"' "$INDEX")
    if [[ -n $worse ]]; then
      printf '%s does worse than kestrel on:\n%s\n' "$agent" "$worse" | tee -a "$OUT/summary.txt"
      status=1
    else
      echo "$agent: at least as good as kestrel on every case" | tee -a "$OUT/summary.txt"
    fi
  done
fi
exit $status
