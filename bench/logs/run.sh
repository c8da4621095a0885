#!/usr/bin/env bash
# Times `pounce logs summary` on a generated 1 GiB log: MB/s and peak RSS (GNU time), then deletes the log.
# Usage: bench/logs/run.sh [SIZE_BYTES]
# The read phase's own figures (wall and CPU MB/s, allocations) come from POUNCE_LOGS_STATS=1. On a loaded machine
# prefer the CPU figure (MB/s per CPU second) and the best of the runs.
set -euo pipefail
cd "$(dirname "$0")/../.."
size=${1:-1073741824}
log=$(mktemp --suffix=.log)
trap 'rm -f "$log"' EXIT
/usr/bin/python3 bench/logs/generate-log.py "$log" "$size"
dotnet build src/Pounce.Cli -c Release -v q -nologo >/dev/null
dll=src/Pounce.Cli/bin/Release/net10.0/Pounce.Cli.dll
bytes=$(stat -c %s "$log")
cat "$log" >/dev/null # into the page cache: the reader is timed, not the disk
for run in 1 2 3; do
  /usr/bin/time -f "%e s elapsed, %U s user, peak RSS %M KiB" -o /tmp/pounce-logs-time.txt \
    env POUNCE_LOGS_STATS=1 taskset -c 0 dotnet "$dll" logs summary --json "$log" 2>/tmp/pounce-logs-stats.txt >/dev/null
  read -r elapsed _ < /tmp/pounce-logs-time.txt
  echo "run $run: whole process $(cat /tmp/pounce-logs-time.txt); $(echo "$bytes / $elapsed / 1000000" | bc) MB/s over $bytes bytes"
  echo "       $(cat /tmp/pounce-logs-stats.txt)"
done
