#!/usr/bin/env bash
# Interleaved A/B of a few server variants on one wrk scenario: every variant is started at once (each in its own
# process), warmed up, then measured in short slices taken in turn (A B C A B C ...), so that the machine's slow and
# fast stretches, which on a shared 2-core VM last seconds and move a server's numbers by 20 % and more, fall on all
# variants alike. What to read is each variant's per-slice ratio to the first one (median and quartiles), not the
# absolute req/s. For deciding whether a change of a few per cent is real; run.sh stays the run of record.
#
# Usage: bench/load/ab.sh VARIANT VARIANT...
#   VARIANT is NAME|DLL|FLAGS|ENV:
#     NAME   a label
#     DLL    a published or built Pounce.BenchApp.dll (empty: this tree's Release build, built first)
#     FLAGS  the bench app's flags (--port 0 is added), e.g. "--server pounce --access-log false"
#     ENV    optional VAR=value pairs for that process, space-separated
#   e.g. bench/load/ab.sh "kestrel||--server kestrel" "pounce||--server pounce" "old|/tmp/old/Pounce.BenchApp.dll|--server pounce"
#
# Settings (environment):
#   SLICES=20   slices per process        SLICE=1   seconds per slice        WARMUP=6   seconds of load per process first
#   APP=realistic   PATH_=/plaintext   PIPELINE=16 (1: no pipelining)   CONNECTIONS=64   THREADS=2
#   SCRIPT=         a wrk script in bench/load/wrk for unpipelined runs, e.g. SCRIPT=post.lua PATH_=/users PIPELINE=1
#   INSTANCES=2     processes started per variant. Two processes of the same build differ by up to 5-6 % on this VM
#                   for their whole life (measured: a second "base" at 1.057 of the first), so one process per
#                   variant cannot tell a 3 % change; the ratios of all of a variant's processes are pooled.
# Loopback only; every server started here is stopped on exit.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
SLICES=${SLICES:-20}
SLICE=${SLICE:-1}
WARMUP=${WARMUP:-6}
APP=${APP:-realistic}
PATH_=${PATH_:-/plaintext}
PIPELINE=${PIPELINE:-16}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
SCRIPT=${SCRIPT:-}
INSTANCES=${INSTANCES:-2}
DEFAULT_DLL=$ROOT/bench/Pounce.BenchApp/bin/Release/net10.0/Pounce.BenchApp.dll

log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

(( $# >= 2 )) || die "give at least two variants (see the header of $0)"
for v in SLICES SLICE WARMUP PIPELINE CONNECTIONS THREADS INSTANCES; do
  [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a whole number, not '${!v}'"
done
(( SLICES >= 1 && SLICE >= 1 && PIPELINE >= 1 && INSTANCES >= 1 )) || die "need SLICES, SLICE, PIPELINE and INSTANCES of at least 1"
command -v wrk >/dev/null || die "wrk is missing: sudo apt-get install -y wrk"
[[ -z $SCRIPT || ( $PIPELINE == 1 && -f $HERE/wrk/$SCRIPT ) ]] || die "SCRIPT needs PIPELINE=1 and a file in $HERE/wrk"

# shellcheck source=../process.sh
source "$HERE/../process.sh"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/pounce-ab.XXXXXX")
declare -a NAMES=() PIDS=() URLS=() RESULTS=() VARIANT=() VNAMES=()
trap stop_all_and_clean EXIT
trap 'log "interrupted"; exit 130' INT TERM

need_build=0
for v in "$@"; do
  IFS='|' read -r _ dll _ _ <<<"$v"
  [[ -z $dll ]] && need_build=1
done
if (( need_build )); then
  log "building the bench app (Release)"
  dotnet build "$ROOT/bench/Pounce.BenchApp/Pounce.BenchApp.csproj" -c Release -v q -nologo > "$WORK/build.log" 2>&1 \
    || die "the build failed: $(tail -n 5 "$WORK/build.log" | tr '\n' ' ')"
fi

# Processes in the order they are measured in each slice: instance 1 of every variant, then instance 2, ...
declare -a SPECS=()
for v in "$@"; do
  IFS='|' read -r name _ _ _ <<<"$v"
  [[ -n $name ]] || die "variant '$v' has no name"
  VNAMES+=("$name")
done
for k in $(seq 1 "$INSTANCES"); do
  for vi in "${!VNAMES[@]}"; do SPECS+=("$vi|$k"); done
done
i=0
for spec in "${SPECS[@]}"; do
  IFS='|' read -r vi k <<<"$spec"
  IFS='|' read -r name dll flags envs <<<"${@:$((vi + 1)):1}"
  dll=${dll:-$DEFAULT_DLL}
  [[ -f $dll ]] || die "variant $name: no $dll"
  (( INSTANCES > 1 )) && name="$name#$k"
  out=$WORK/$i.out
  # shellcheck disable=SC2086 # flags and envs are word lists on purpose
  env $envs dotnet "$dll" --port 0 --app "$APP" $flags > "$out" 2> "$WORK/$i.err" < /dev/null &
  PIDS+=($!)
  NAMES+=("$name")
  VARIANT+=("$vi")
  url=
  for _ in $(seq 1 200); do
    url=$(sed -n 's/^Listening on \(http[^ ]*\).*/\1/p' "$out" | head -n1)
    [[ -n $url ]] && break
    kill -0 "${PIDS[$i]}" 2>/dev/null || die "$name did not start: $(tail -n 3 "$WORK/$i.err" | tr '\n' ' ')"
    sleep 0.1
  done
  [[ -n $url ]] || die "$name did not print its URL within 20 s"
  URLS+=("$url")
  RESULTS+=("")
  i=$((i + 1))
done

wrk_rps() { # URL SECONDS: req/s, or 0 when wrk failed
  local -a script=() extra=()
  if (( PIPELINE > 1 )); then script=(-s "$HERE/wrk/pipeline.lua"); extra=(-- "$PIPELINE")
  elif [[ -n $SCRIPT ]]; then script=(-s "$HERE/wrk/$SCRIPT"); fi
  timeout $(($2 + 30)) wrk -t"$THREADS" -c"$CONNECTIONS" -d"$2s" "${script[@]}" "$1$PATH_" "${extra[@]}" 2>&1 \
    | awk '/^Requests\/sec/ { printf "%d", $2; found = 1 } END { if (!found) print 0 }'
}

log "warming up ${#NAMES[@]} processes (${#VNAMES[@]} variants, $INSTANCES each; ${WARMUP}s each)"
for j in "${!NAMES[@]}"; do
  (( WARMUP > 0 )) && wrk_rps "${URLS[$j]}" "$WARMUP" > /dev/null
  : > "$WORK/$j.out" # the access log: hundreds of MB a minute under this load
done
log "$SLICES slices of ${SLICE}s per process, $PATH_, pipeline $PIPELINE, -t$THREADS -c$CONNECTIONS"
for s in $(seq 1 "$SLICES"); do
  for j in "${!NAMES[@]}"; do
    RESULTS[$j]="${RESULTS[$j]} $(wrk_rps "${URLS[$j]}" "$SLICE")"
    : > "$WORK/$j.out"
  done
done

# median and quartiles of a column of numbers (sorted here)
quartiles() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) exit; printf "%s %s %s\n", v[int((NR + 3) / 4)], v[int((NR + 1) / 2)], v[int((3 * NR + 3) / 4)] }'; }

# One line per measurement: process, variant, slice, req/s. The reference of a slice is the mean of the first
# variant's processes in that slice; every ratio is to it.
: > "$WORK/samples"
for j in "${!NAMES[@]}"; do
  n=0
  for r in ${RESULTS[$j]}; do n=$((n + 1)); echo "$j ${VARIANT[$j]} $n $r" >> "$WORK/samples"; done
done
awk '$2 == 0 && $4 > 0 { sum[$3] += $4; cnt[$3]++ } END { for (s in sum) print s, sum[s] / cnt[s] }' "$WORK/samples" > "$WORK/reference"
ratios_of() { # pN (process N) or vN (variant N): the ratios of its samples to their slice's reference, one a line
  awk -v cond="$1" 'NR == FNR { ref[$1] = $2; next }
    $4 > 0 && ($3 in ref) && ((cond ~ /^p/ && $1 == substr(cond, 2)) || (cond ~ /^v/ && $2 == substr(cond, 2))) {
      printf "%.3f\n", $4 / ref[$3] }' "$WORK/reference" "$WORK/samples"
}

printf '%-16s %12s %12s %12s   %s\n' process "median req/s" q1 q3 "per-slice ratio to ${VNAMES[0]}: q1 median q3"
for j in "${!NAMES[@]}"; do
  read -r q1 med q3 < <(tr ' ' '\n' <<<"${RESULTS[$j]}" | grep -v '^$' | quartiles)
  printf '%-16s %12s %12s %12s   %s\n' "${NAMES[$j]}" "$med" "$q1" "$q3" "$(ratios_of "p$j" | quartiles)"
done
if (( INSTANCES > 1 )); then
  printf '\n%-16s %38s   %s\n' variant "" "all its processes' ratios pooled: q1 median q3"
  for vi in "${!VNAMES[@]}"; do
    printf '%-16s %38s   %s\n' "${VNAMES[$vi]}" "" "$(ratios_of "v$vi" | quartiles)"
  done
fi
zeros=$(printf '%s\n' "${RESULTS[@]}" | tr ' ' '\n' | grep -c '^0$' || true)
(( zeros == 0 )) || log "warning: $zeros slices failed (wrk printed no rate): left out of the ratios, counted as 0 in req/s"
