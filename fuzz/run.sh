#!/usr/bin/env bash
# Builds the harnesses, instruments Pounce.dll with SharpFuzz and runs AFL++ on one parser for a bounded time.
#   fuzz/run.sh TARGET SECONDS      TARGET: h1-head h1-chunked hpack h2-frames ws-scanner cert-config
# Findings go to fuzz/.work/TARGET/findings (crashes/, hangs/); each crash is replayed at the end so its contract
# violation is printed. Needs afl-fuzz (Debian: afl++) and the .NET SDK; installs the SharpFuzz.CommandLine tool
# into fuzz/.tools on first use. Runs one afl-fuzz process (one core), stops by itself after SECONDS.
set -euo pipefail
target="${1:?usage: fuzz/run.sh TARGET SECONDS}"
seconds="${2:?usage: fuzz/run.sh TARGET SECONDS}"
here="$(cd "$(dirname "$0")" && pwd)"
work="$here/.work/$target"
corpus="$here/corpus/$target"
[ -d "$corpus" ] || { echo "no seed corpus at $corpus (targets: $(ls "$here/corpus" | tr '\n' ' '))" >&2; exit 2; }
command -v afl-fuzz >/dev/null || { echo "afl-fuzz not found: apt-get install afl++" >&2; exit 2; }

if [ ! -x "$here/.tools/sharpfuzz" ]; then
  dotnet tool install SharpFuzz.CommandLine --version 2.3.0 --tool-path "$here/.tools" >/dev/null
fi

# Build, then instrument a copy; crashes are replayed on an uninstrumented copy (instrumented code needs AFL's shared
# memory and dies with an AccessViolationException without it).
dotnet build "$here/Pounce.Fuzz/Pounce.Fuzz.csproj" -c Release -o "$work/bin" -v q -nologo >/dev/null
rm -rf "$work/replay" && cp -r "$work/bin" "$work/replay"
"$here/.tools/sharpfuzz" "$work/bin/Pounce.dll"

rm -rf "$work/findings"
export AFL_SKIP_BIN_CHECK=1 AFL_NO_UI=1 AFL_SKIP_CPUFREQ=1 AFL_NO_AFFINITY=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1
export DOTNET_TieredPGO=0 DOTNET_gcServer=0
echo "afl-fuzz -i $corpus -o $work/findings -t 5000 -m none -V $seconds -- dotnet $work/bin/Pounce.Fuzz.dll $target"
timeout $((seconds + 120)) afl-fuzz -i "$corpus" -o "$work/findings" -t 5000 -m none -V "$seconds" \
  -- dotnet "$work/bin/Pounce.Fuzz.dll" "$target" > "$work/afl.log" 2>&1 || { tail -40 "$work/afl.log"; exit 1; }

stats="$work/findings/default/fuzzer_stats"
get() { awk -F' *: *' -v k="$1" '$1 == k { print $2 }' "$stats"; }
echo "target=$target seconds=$seconds execs_done=$(get execs_done) execs_per_sec=$(get execs_per_sec) corpus_count(paths)=$(get corpus_count) edges_found=$(get edges_found) saved_crashes=$(get saved_crashes) saved_hangs=$(get saved_hangs)"
crashes=("$work"/findings/default/crashes/id:*)
if [ -e "${crashes[0]}" ]; then
  echo "crashes (replayed):"
  dotnet "$work/replay/Pounce.Fuzz.dll" "$target" --replay "${crashes[@]}" || true
  exit 1
fi
