#!/usr/bin/env bash
# Times `pounce logs summary` on a generated 1 GiB log: MB/s and peak RSS (GNU time), then deletes the log.
# Usage: bench/logs/run.sh [SIZE_BYTES]
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
    taskset -c 0 dotnet "$dll" logs summary --json "$log" >/dev/null
  read -r elapsed _ < /tmp/pounce-logs-time.txt
  echo "run $run: $(cat /tmp/pounce-logs-time.txt); $(echo "$bytes / $elapsed / 1000000" | bc) MB/s over $bytes bytes"
done
