#!/usr/bin/env bash
# Load comparison of Pounce against Kestrel: the same app (bench/Pounce.BenchApp), one machine,
# runs alternated (K P K P ...) so that drift in the machine hits both servers alike; the numbers
# to read are the ratios. See bench/README.md for how to read them.
#
# Usage: bench/load/run.sh            (everything, defaults below: about 20 minutes)
#        DURATION=5 ROUNDS=2 IDLE_CONNS=5000 IDLE_TLS_CONNS=2000 bench/load/run.sh   (every row, about 17 minutes)
#        DURATION=1 WARMUP=1 ROUNDS=1 SCENARIOS=plaintext H2=0 TLS=0 IDLE=0 bench/load/run.sh   (smoke)
#
# Every scenario runs the realistic app (bench/Pounce.BenchApp --app realistic: minimal APIs with routing, the web
# template's appsettings.json and console logger, each server at its own defaults, Pounce's access log on) unless
# its name starts with "core-", which runs the routing-free app.Run app with no logging on either side.
#
# Settings (environment):
#   DURATION=8        seconds measured per run
#   WARMUP=8          seconds of load before each measured run (same server process, discarded). Kestrel ships
#                     precompiled (ReadyToRun) in the shared framework; Pounce.dll is JIT-compiled and tiers up under
#                     load: 1-second slices from a cold start reach steady state after ~5 s (Kestrel) and ~8 s
#                     (Pounce), so a shorter warm-up measures the JIT, not the servers
#   ROUNDS=3          alternations per scenario (each round runs every server once)
#   SERVERS="kestrel pounce"   servers compared, in the order they alternate
#   SCENARIOS="plaintext pipelined json user post bytes4k bytes1m logfile core-plaintext"
#                     HTTP/1.1 scenarios (wrk): plaintext, pipelined (plaintext, PIPELINE-deep), json, user
#                     (GET /users/42), post (POST /users, JSON body model-bound), bytes4k, bytes1m; logfile (plaintext,
#                     Pounce with lifecycle logging at debug and the access log, JSON, both to --log-file, against
#                     Kestrel at its defaults); core-<any of these> (the routing-free app); may also name h2, https, h2tls
#   CONNECTIONS=64    wrk connections;  THREADS=2  wrk threads;  PIPELINE=16  requests per write (pipelined)
#   H2=1              adds the HTTP/2 scenarios, h2c prior knowledge: h2 (h2load -c$H2_CONNECTIONS -m$H2_STREAMS),
#                     h2-m100 (-c1 -m100: one connection, many streams), grpc (-c$H2_CONNECTIONS -m$H2_STREAMS, a POST
#                     of 1 KiB to /rpc answered with 1 KiB and a grpc-status trailer, a unary call's shape)
#   H2_CONNECTIONS=16 H2_STREAMS=16
#   TLS=1             adds the HTTPS scenarios (self-signed certificate made with openssl, both servers):
#                     https (wrk, HTTP/1.1 over TLS, /plaintext) and, with H2=1, h2tls and h2tls-m100 (h2load, ALPN h2,
#                     /plaintext, -c$H2_CONNECTIONS -m$H2_STREAMS and -c1 -m100);
#                     and, with IDLE=1, the idle TLS connection row
#   LOGGING=0         1 adds the Pounce overhead table (realistic app, plaintext): off (no lifecycle, no access log) /
#                     info / debug JSON to a file / otel (OtelEndpoint pointed at otlp_sink.py, a local OTLP receiver)
#   IDLE=1            memory of IDLE_CONNS idle keep-alive connections per server (and IDLE_TLS_CONNS over TLS)
#   IDLE_CONNS=10000  IDLE_TLS_CONNS=3000
#   RESULTS_DIR=bench/load/results   where <date>.json and <date>.md go
#   NO_BUILD=0        1 skips `dotnet build -c Release` of the bench app
#   START_TIMEOUT=20  seconds a server may take to print its URL
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)

DURATION=${DURATION:-8}
WARMUP=${WARMUP:-8}
ROUNDS=${ROUNDS:-3}
SERVERS=${SERVERS:-"kestrel pounce"}
SCENARIOS=${SCENARIOS:-"plaintext pipelined json user post bytes4k bytes1m logfile core-plaintext"}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
PIPELINE=${PIPELINE:-16}
H2=${H2:-1}
H2_CONNECTIONS=${H2_CONNECTIONS:-16}
H2_STREAMS=${H2_STREAMS:-16}
TLS=${TLS:-1}
LOGGING=${LOGGING:-0}
IDLE=${IDLE:-1}
IDLE_CONNS=${IDLE_CONNS:-10000}
IDLE_TLS_CONNS=${IDLE_TLS_CONNS:-3000}
RESULTS_DIR=${RESULTS_DIR:-$HERE/results}
NO_BUILD=${NO_BUILD:-0}
START_TIMEOUT=${START_TIMEOUT:-20}

APP_PROJECT=$ROOT/bench/Pounce.BenchApp/Pounce.BenchApp.csproj
APP_DLL=$ROOT/bench/Pounce.BenchApp/bin/Release/net10.0/Pounce.BenchApp.dll
STAMP=$(date -u +%Y-%m-%dT%H%M%SZ)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/pounce-load.XXXXXX")
RUNS=$WORK/runs.jsonl
: > "$RUNS"

SERVER_PID=
CLIENT_PID=
SINK_PID=

log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

is_uint() { [[ $1 =~ ^[0-9]+$ ]]; }
for v in DURATION WARMUP ROUNDS CONNECTIONS THREADS PIPELINE H2_CONNECTIONS H2_STREAMS IDLE_CONNS IDLE_TLS_CONNS START_TIMEOUT; do
  is_uint "${!v}" || die "$v must be a whole number, not '${!v}'"
done
(( DURATION >= 1 && ROUNDS >= 1 && CONNECTIONS >= THREADS && THREADS >= 1 )) \
  || die "need DURATION >= 1, ROUNDS >= 1, THREADS >= 1 and CONNECTIONS >= THREADS"

# ---- cleanup: never leave a server or a client behind -------------------------------------------

# shellcheck source=../process.sh
source "$(dirname "${BASH_SOURCE[0]}")/../process.sh"

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_pid "$CLIENT_PID"; CLIENT_PID=
  stop_pid "$SERVER_PID"; SERVER_PID=
  stop_pid "$SINK_PID"; SINK_PID=
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

# ---- tools -------------------------------------------------------------------------------------

PYTHON=/usr/bin/python3
[[ -x $PYTHON ]] || PYTHON=$(command -v python3 || true)

ensure_tools() {
  local missing=() pkgs=()
  command -v wrk >/dev/null || { missing+=(wrk); pkgs+=(wrk); }
  command -v jq >/dev/null || { missing+=(jq); pkgs+=(jq); }
  if [[ $H2 == 1 ]] && ! command -v h2load >/dev/null; then missing+=(h2load); pkgs+=(nghttp2-client); fi
  if [[ ($IDLE == 1 || $LOGGING == 1) && -z $PYTHON ]]; then missing+=(python3); pkgs+=(python3); fi
  command -v dotnet >/dev/null || die "dotnet (the .NET 10 SDK) is not on PATH"
  ((${#pkgs[@]} == 0)) && return 0
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    log "installing ${pkgs[*]} (for ${missing[*]})"
    apt-get update -qq >&2 || die "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}" >&2 || die "apt-get install ${pkgs[*]} failed"
  else
    die "missing ${missing[*]}; install them first: sudo apt-get install -y ${pkgs[*]}"
  fi
  [[ ($IDLE == 1 || $LOGGING == 1) && -z $PYTHON ]] && PYTHON=$(command -v python3 || true)
  return 0
}

# Idle connections need a file descriptor each, in the client and in the server.
raise_fd_limit() {
  local most=$(( IDLE_CONNS > IDLE_TLS_CONNS ? IDLE_CONNS : IDLE_TLS_CONNS )) hard
  local want=$((most + 1024))
  hard=$(ulimit -Hn)
  if [[ $hard != unlimited ]] && (( hard < want )); then
    ulimit -n "$hard" 2>/dev/null || true
    if (( IDLE_CONNS > hard - 1024 )); then
      log "open-file limit is $hard: IDLE_CONNS lowered from $IDLE_CONNS to $((hard - 1024))"
      IDLE_CONNS=$((hard - 1024))
    fi
    if (( IDLE_TLS_CONNS > hard - 1024 )); then
      log "open-file limit is $hard: IDLE_TLS_CONNS lowered from $IDLE_TLS_CONNS to $((hard - 1024))"
      IDLE_TLS_CONNS=$((hard - 1024))
    fi
  else
    ulimit -n "$want" 2>/dev/null || log "could not raise ulimit -n to $want (now $(ulimit -n))"
  fi
}

# ---- one server --------------------------------------------------------------------------------

SERVER_URL=
SERVER_OUT=

# start_server NAME [APP FLAGS...]: starts the bench app, waits for "Listening on URL".
start_server() {
  local name=$1; shift
  SERVER_OUT=$WORK/$name.out
  : > "$SERVER_OUT"
  dotnet "$APP_DLL" --server "$name" --port 0 --max-connections $((IDLE_CONNS + 10000)) "$@" \
    > "$SERVER_OUT" 2> "$WORK/$name.err" < /dev/null &
  SERVER_PID=$!
  local deadline=$((SECONDS + START_TIMEOUT))
  while (( SECONDS < deadline )); do
    SERVER_URL=$(sed -n 's/^Listening on \(http[^ ]*\).*/\1/p' "$SERVER_OUT" | head -n1)
    [[ -n $SERVER_URL ]] && return 0
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      wait "$SERVER_PID" 2>/dev/null || true
      SERVER_PID=
      log "$name did not start: $(tail -n 3 "$WORK/$name.err" | tr '\n' ' ')"
      return 1
    fi
    sleep 0.1
  done
  log "$name did not print its URL within ${START_TIMEOUT}s"
  stop_server
  return 1
}

stop_server() { stop_pid "$SERVER_PID"; SERVER_PID=; }

# cpu_ticks: user + system CPU time of the server so far, in clock ticks (/proc/PID/stat fields 14 and 15).
cpu_ticks() {
  local stat
  stat=$(cat "/proc/$SERVER_PID/stat" 2>/dev/null) || { echo null; return 0; }
  stat=${stat##*) } # the command name may hold spaces: fields counted after it (field 3 is the first)
  awk '{ print $12 + $13 }' <<<"$stat"
}
CLK_TCK=$(getconf CLK_TCK 2>/dev/null || echo 100)

status_kb() { # field: VmHWM (peak RSS) or VmRSS (current RSS) of the server, in kB
  awk -v f="$1:" '$1 == f { print $2 }' "/proc/$SERVER_PID/status" 2>/dev/null || echo null
}

# allocated_bytes NAME: the server's GC.GetTotalAllocatedBytes, asked with SIGUSR1 (the bench app prints
# "allocated_bytes=N" to stderr); prints null when no answer came within 2 s.
allocated_bytes() {
  local err=$WORK/$1.err seen deadline=$((SECONDS + 2))
  seen=$(grep -c '^allocated_bytes=' "$err" || true)
  kill -USR1 "$SERVER_PID" 2>/dev/null || { echo null; return 0; }
  while (( SECONDS <= deadline )); do
    if (( $(grep -c '^allocated_bytes=' "$err" || true) > seen )); then
      sed -n 's/^allocated_bytes=\([0-9]*\).*/\1/p' "$err" | tail -n1
      return 0
    fi
    sleep 0.05
  done
  echo null
}

# ---- load generators ---------------------------------------------------------------------------

# wrk_run PATH DEPTH SECONDS [SCRIPT]: prints the WRKJSON object (or nothing on failure)
wrk_run() {
  local path=$1 depth=$2 seconds=$3 script=$HERE/wrk/${4:-report.lua} out
  local -a extra=()
  if (( depth > 1 )); then script=$HERE/wrk/pipeline.lua; extra=(-- "$depth"); fi
  out=$(timeout $((seconds + 30)) wrk -t"$THREADS" -c"$CONNECTIONS" -d"${seconds}s" --timeout 5s --latency \
        -s "$script" "$SERVER_URL$path" "${extra[@]}" 2>&1) || { log "wrk failed: $(tail -n 2 <<<"$out" | tr '\n' ' ')"; return 0; }
  sed -n 's/^WRKJSON //p' <<<"$out" | tail -n1
}

# h2_run PATH SECONDS CONNECTIONS STREAMS [DATAFILE]: same shape as WRKJSON, from h2load's text (no percentiles
# there: p99 is null). With DATAFILE each request is a POST of that file (the grpc scenario).
h2_run() {
  local path=$1 seconds=$2 conns=$3 streams=$4 data=${5:-} out
  local -a extra=()
  [[ -n $data ]] && extra=(-d "$data" -H 'content-type: application/grpc' -H 'te: trailers')
  out=$(timeout $((seconds + 30)) h2load -c"$conns" -m"$streams" -t1 -D"$seconds" "${extra[@]}" \
        "$SERVER_URL$path" 2>&1) || { log "h2load failed: $(tail -n 2 <<<"$out" | tr '\n' ' ')"; return 0; }
  awk '
    /^finished in/ { for (i = 1; i <= NF; i++) if ($(i+1) ~ /^req\/s/) { rps = $i; sub(/,$/, "", rps) } }
    /^requests:/   { total = $2; ok = $8; failed = $10; errored = $12; timeout = $14 }
    END {
      if (rps == "") exit
      printf "{\"requests\":%d,\"rps\":%s,\"p50_us\":null,\"p99_us\":null,\"max_us\":null,", total, rps
      printf "\"errors\":{\"connect\":0,\"read\":%d,\"write\":0,\"status\":%d,\"timeout\":%d}}\n", errored, failed, timeout
    }' <<<"$out"
}

# measure NAME SCENARIO GROUP ROUND VARIANT [APP FLAGS...]: one fresh server, warm-up, measured run,
# peak RSS; appends one line to runs.jsonl.
measure() {
  local name=$1 scenario=$2 group=$3 round=$4 variant=$5; shift 5
  local path depth=1 result="" hwm=null loglines=null script=report.lua base=${scenario#core-}
  local h2conns=$H2_CONNECTIONS h2streams=$H2_STREAMS h2data=""
  case $base in
    h2-m100|h2tls-m100) h2conns=1; h2streams=100 ;;
    grpc) h2data=$WORK/rpc-1k.bin ;;
  esac
  case $base in
    plaintext|pipelined|h2|https|h2tls|logfile|h2-m100|h2tls-m100) path=/plaintext ;;
    grpc) path=/rpc ;;
    json) path=/json ;;
    user) path=/users/42 ;;
    post) path=/users; script=post.lua ;;
    bytes4k) path=/bytes/4k ;;
    bytes1m) path=/bytes/1m ;;
    *) die "unknown scenario $scenario" ;;
  esac
  [[ $scenario == core-* && ($base == user || $base == post || $base == logfile) ]] \
    && die "scenario $scenario: the core app has no /users and no logfile variant"
  [[ $base == pipelined ]] && depth=$PIPELINE
  local -a flags=("$@")
  local is_h2=0
  [[ $base == h2 || $base == h2-m100 || $base == grpc || $base == h2tls || $base == h2tls-m100 ]] && is_h2=1
  [[ ($base == h2 || $base == h2-m100 || $base == grpc) && $name == kestrel ]] && flags+=(--protocols http2)
  [[ $base == https || $base == h2tls || $base == h2tls-m100 ]] && flags+=(--tls-cert "$WORK/cert.pem" --tls-key "$WORK/key.pem")

  local alloc0=null alloc1=null cpu0=null cpu1=null
  if start_server "$name" "${flags[@]}"; then
    if (( is_h2 )); then
      (( WARMUP > 0 )) && h2_run "$path" "$WARMUP" "$h2conns" "$h2streams" "$h2data" > /dev/null
      alloc0=$(allocated_bytes "$name")
      cpu0=$(cpu_ticks)
      result=$(h2_run "$path" "$DURATION" "$h2conns" "$h2streams" "$h2data")
    else
      (( WARMUP > 0 )) && wrk_run "$path" "$depth" "$WARMUP" "$script" > /dev/null
      alloc0=$(allocated_bytes "$name")
      cpu0=$(cpu_ticks)
      result=$(wrk_run "$path" "$depth" "$DURATION" "$script")
    fi
    cpu1=$(cpu_ticks)
    alloc1=$(allocated_bytes "$name")
    hwm=$(status_kb VmHWM); [[ -n $hwm ]] || hwm=null
    stop_server
    if [[ -f $WORK/lifecycle.log ]]; then loglines=$(wc -l < "$WORK/lifecycle.log"); fi
    if [[ $variant == info ]]; then loglines=$(grep -vc '^Listening on' "$SERVER_OUT" || true); fi
  fi
  rm -f "$WORK/lifecycle.log" "$SERVER_OUT"

  if [[ -n $result ]]; then
    jq -c -n --arg g "$group" --arg s "$scenario" --arg n "$name" --arg v "$variant" --argjson r "$round" \
      --argjson w "$result" --argjson hwm "$hwm" --argjson lines "$loglines" --argjson a0 "$alloc0" --argjson a1 "$alloc1" \
      --argjson c0 "$cpu0" --argjson c1 "$cpu1" --argjson tck "$CLK_TCK" \
      '{group: $g, scenario: $s, server: $n, variant: $v, round: $r, ok: true,
        rps: $w.rps, requests: $w.requests,
        cpu_us_per_request: (if $c0 == null or $c1 == null or $w.requests == 0 then null
                             else (($c1 - $c0) * 1000000 / $tck / $w.requests * 100 | round) / 100 end),
        alloc_bytes_per_request: (if $a0 == null or $a1 == null or $w.requests == 0 then null
                                  else (($a1 - $a0) / $w.requests | round) end),
        p99_ms: (if $w.p99_us == null then null else $w.p99_us / 1000 end),
        p50_ms: (if $w.p50_us == null then null else $w.p50_us / 1000 end),
        errors: $w.errors, error_count: ($w.errors | add), peak_rss_kb: $hwm, log_lines: $lines}' >> "$RUNS"
    log "$(printf '%-10s %-9s %-7s round %d: %10.0f req/s  p99 %s ms  peak RSS %s kB  errors %s  alloc/req %s B  cpu/req %s us' \
      "$scenario" "$name" "$variant" "$round" "$(jq -r .rps <<<"$result")" \
      "$(jq -r 'if .p99_us == null then "n/a" else .p99_us / 1000 end' <<<"$result")" "$hwm" \
      "$(jq -r '.errors | add' <<<"$result")" "$(tail -n1 "$RUNS" | jq -r '.alloc_bytes_per_request // "n/a"')" \
      "$(tail -n1 "$RUNS" | jq -r '.cpu_us_per_request // "n/a"')")"
  else
    jq -c -n --arg g "$group" --arg s "$scenario" --arg n "$name" --arg v "$variant" --argjson r "$round" \
      '{group: $g, scenario: $s, server: $n, variant: $v, round: $r, ok: false}' >> "$RUNS"
    log "$(printf '%-10s %-9s %-7s round %d: FAILED' "$scenario" "$name" "$variant" "$round")"
  fi
}

# idle_run NAME [tls]: RSS before and after IDLE_CONNS (IDLE_TLS_CONNS over TLS) idle keep-alive connections
# to the realistic app.
idle_run() {
  local name=$1 tls=${2:-} before after line open=0 failed=0 ok=false
  local port conns=$IDLE_CONNS
  local -a sflags=(--keep-alive-timeout 600) cflags=()
  if [[ $tls == tls ]]; then
    conns=$IDLE_TLS_CONNS
    sflags+=(--tls-cert "$WORK/cert.pem" --tls-key "$WORK/key.pem")
    cflags=(--tls)
  fi
  if start_server "$name" "${sflags[@]}"; then
    port=${SERVER_URL##*:}
    # Warm the server up first, so "before" already includes JIT and pools of a working server.
    (( WARMUP > 0 )) && wrk_run /plaintext 1 "$WARMUP" > /dev/null
    sleep 1
    before=$(status_kb VmRSS)
    "$PYTHON" "$HERE/idle_client.py" --host 127.0.0.1 --port "$port" --connections "$conns" "${cflags[@]}" \
      --timeout 120 --hold 300 > "$WORK/client.out" 2> "$WORK/client.err" < /dev/null &
    CLIENT_PID=$!
    local deadline=$((SECONDS + 150))
    while (( SECONDS < deadline )); do
      line=$(grep -m1 '^READY' "$WORK/client.out" || true)
      [[ -n $line ]] && break
      kill -0 "$CLIENT_PID" 2>/dev/null || break
      sleep 0.2
    done
    if [[ -n $line ]]; then
      sleep 2 # let the server settle (accept queues drained, buffers returned)
      after=$(status_kb VmRSS)
      open=$(sed -n 's/.*open=\([0-9]*\).*/\1/p' <<<"$line")
      failed=$(sed -n 's/.*failed=\([0-9]*\).*/\1/p' <<<"$line")
      if is_uint "$before" && is_uint "$after" && is_uint "$open" && is_uint "$failed"; then
        ok=true
      else
        log "could not read the server's RSS or the client's counts ('$before', '$after', '$line')"
      fi
    else
      log "idle client did not get ready: $(tail -n 3 "$WORK/client.err" | tr '\n' ' ')"
    fi
    stop_pid "$CLIENT_PID"; CLIENT_PID=
    stop_server
  fi
  if [[ $ok == true ]]; then
    jq -c -n --arg n "$name" --argjson want "$conns" --argjson open "$open" --argjson failed "$failed" \
      --argjson before "$before" --argjson after "$after" --argjson tls "$([[ $tls == tls ]] && echo true || echo false)" \
      '{group: "idle", server: $n, tls: $tls, ok: true, connections_requested: $want, connections_open: $open,
        connections_failed: $failed, rss_before_kb: $before, rss_after_kb: $after,
        bytes_per_connection: (if $open > 0 then (($after - $before) * 1024 / $open | floor) else null end)}' >> "$RUNS"
    log "idle $(printf '%-5s %-9s' "${tls:-plain}" "$name"): $open open ($failed failed), RSS $before kB -> $after kB"
  else
    jq -c -n --arg n "$name" --argjson tls "$([[ $tls == tls ]] && echo true || echo false)" '{group: "idle", server: $n, tls: $tls, ok: false}' >> "$RUNS"
    log "idle $(printf '%-5s %-9s' "${tls:-plain}" "$name"): FAILED"
  fi
}

# ---- main --------------------------------------------------------------------------------------

ensure_tools
[[ $IDLE == 1 ]] && raise_fd_limit

if [[ $NO_BUILD != 1 ]]; then
  log "building the bench app (Release)"
  dotnet build "$APP_PROJECT" -c Release -nologo -v quiet > "$WORK/build.log" 2>&1 \
    || { tail -n 30 "$WORK/build.log" >&2; die "build failed"; }
fi
[[ -f $APP_DLL ]] || die "$APP_DLL not found (build the bench app, or unset NO_BUILD)"

scenarios=$SCENARIOS
[[ $H2 == 1 ]] && scenarios="$scenarios h2 h2-m100 grpc"
if [[ $TLS == 1 ]]; then
  scenarios="$scenarios https"
  [[ $H2 == 1 ]] && scenarios="$scenarios h2tls h2tls-m100"
fi
# The grpc scenario's request body: 1 KiB.
head -c 1024 /dev/zero | tr '\0' 'x' > "$WORK/rpc-1k.bin"
if [[ " $scenarios " == *" https "* || " $scenarios " == *" h2tls "* || ($TLS == 1 && $IDLE == 1) ]]; then
  command -v openssl >/dev/null || die "openssl is needed for the HTTPS scenarios"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$WORK/key.pem" -out "$WORK/cert.pem" \
    -days 2 -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 2>/dev/null || die "openssl could not make a certificate"
fi
read -r -a servers <<<"$SERVERS"
(( ${#servers[@]} >= 1 )) || die "SERVERS is empty"
for s in "${servers[@]}"; do [[ $s == kestrel || $s == pounce ]] || die "unknown server '$s' in SERVERS"; done

n_runs=$(( $(wc -w <<<"$scenarios") * ROUNDS * ${#servers[@]} ))
[[ $LOGGING == 1 ]] && n_runs=$((n_runs + 4 * ROUNDS))
log "work dir $WORK; ${DURATION}s runs after ${WARMUP}s warm-up, $ROUNDS rounds, wrk -t$THREADS -c$CONNECTIONS"
log "$n_runs measured runs: about $(( (n_runs * (DURATION + WARMUP + 2) + 60) / 60 )) min$([[ $IDLE == 1 ]] && echo " plus the idle-connection test")"

# Pounce against Kestrel, each at its own defaults on the realistic app (Pounce's access log on), or with no
# logging on either side on the core app; logfile: Pounce with everything logged to a file. Alternated A B A B ...
for scenario in $scenarios; do
  for round in $(seq "$ROUNDS"); do
    for s in "${servers[@]}"; do
      flags=()
      variant=default
      if [[ $scenario == core-* ]]; then
        flags=(--app core); variant=off
      elif [[ $scenario == logfile && $s == pounce ]]; then
        flags=(--lifecycle-logging true --log-level debug --log-format json --log-file "$WORK/lifecycle.log"); variant=debug
      fi
      measure "$s" "$scenario" compare "$round" "$variant" "${flags[@]}"
    done
  done
done

# start_sink: the stand-in OTLP receiver for the otel row; sets SINK_URL.
SINK_URL=
start_sink() {
  [[ -n $PYTHON ]] || die "python3 is needed for the otel row's OTLP receiver"
  "$PYTHON" "$HERE/otlp_sink.py" --port 0 > "$WORK/sink.out" 2> "$WORK/sink.err" < /dev/null &
  SINK_PID=$!
  local deadline=$((SECONDS + START_TIMEOUT))
  while (( SECONDS < deadline )); do
    SINK_URL=$(sed -n 's/^Listening on \(http[^ ]*\).*/\1/p' "$WORK/sink.out" | head -n1)
    [[ -n $SINK_URL ]] && return 0
    kill -0 "$SINK_PID" 2>/dev/null || die "the OTLP receiver did not start: $(tail -n 3 "$WORK/sink.err" | tr '\n' ' ')"
    sleep 0.1
  done
  die "the OTLP receiver did not print its URL within ${START_TIMEOUT}s"
}

# Pounce overhead, plaintext: off / info (lifecycle events to stdout, which goes to a file here) /
# debug as JSON to --log-file / otel (OpenTelemetry on: request spans and metrics exported with OTLP
# to the local receiver, lifecycle logging off). Alternated off info debug otel off info debug otel ...
if [[ $LOGGING == 1 ]]; then
  start_sink
  for round in $(seq "$ROUNDS"); do
    measure pounce plaintext logging "$round" off --lifecycle-logging false --access-log false
    measure pounce plaintext logging "$round" info --lifecycle-logging true --log-level info --access-log false
    measure pounce plaintext logging "$round" debug --lifecycle-logging true --log-level debug --log-format json \
      --log-file "$WORK/lifecycle.log" --access-log false
    measure pounce plaintext logging "$round" otel --lifecycle-logging false --access-log false --otel-endpoint "$SINK_URL"
  done
  stop_pid "$SINK_PID"; SINK_PID=
  log "OTLP receiver: $(tail -n 1 "$WORK/sink.out")"
fi

if [[ $IDLE == 1 ]]; then
  [[ -n $PYTHON ]] || die "python3 is needed for the idle-connection test"
  for s in "${servers[@]}"; do idle_run "$s"; done
  if [[ $TLS == 1 ]]; then
    for s in "${servers[@]}"; do idle_run "$s" tls; done
  fi
fi

# ---- summary -----------------------------------------------------------------------------------

mkdir -p "$RESULTS_DIR"
JSON_OUT=$RESULTS_DIR/$STAMP.json
MD_OUT=$RESULTS_DIR/$STAMP.md

commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
jq -s \
  --arg date "$STAMP" --arg commit "$commit" --arg kernel "$(uname -r)" --arg cpus "$(nproc)" \
  --arg dotnet "$(dotnet --version 2>/dev/null || echo unknown)" \
  --arg wrk "$(wrk -v 2>&1 | head -n1 | awk '{print $2}')" \
  --argjson settings "$(jq -n --argjson d "$DURATION" --argjson w "$WARMUP" --argjson r "$ROUNDS" \
     --argjson c "$CONNECTIONS" --argjson t "$THREADS" --argjson p "$PIPELINE" --argjson i "$IDLE_CONNS" --argjson it "$IDLE_TLS_CONNS" \
     --argjson h2c "$H2_CONNECTIONS" --argjson h2m "$H2_STREAMS" --arg servers "$SERVERS" \
     '{duration_s: $d, warmup_s: $w, rounds: $r, connections: $c, threads: $t, pipeline: $p,
       idle_connections: $i, idle_tls_connections: $it, h2_connections: $h2c, h2_streams: $h2m, servers: ($servers | split(" ") | map(select(. != "")))}')" \
  -f "$HERE/summarize.jq" "$RUNS" > "$JSON_OUT"
jq -r -f "$HERE/markdown.jq" "$JSON_OUT" > "$MD_OUT"

echo
cat "$MD_OUT"
echo
log "results: $JSON_OUT and $MD_OUT"
