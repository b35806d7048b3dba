#!/usr/bin/env bash
# Coverage-guided fuzzing of every parser that reads bytes from the wire or from a file, with
# AFL++ and SharpFuzz: the harness (this folder) is built, its assemblies instrumented, and each
# target fuzzed for the time given; then one table: executions, executions per second, paths
# found, crashes and hangs per target. Crashing inputs stay in the findings folder; replay one with
#   dotnet run --project tests/PgBouncerActors.Fuzz -- --replay TARGET FILE   (an uninstrumented build)
#
#   bash tests/PgBouncerActors.Fuzz/fuzz.sh [TARGET|all] [SECONDS per target, default 60]
#
# Targets: startup frames client-inspector server-inspector scram-server scram-client userlist hocon sql-resets.
# Installs Debian's afl++ and the SharpFuzz.CommandLine tool (2.3.0) when missing. FUZZ_OUT sets the
# work folder (default /tmp/pgba-fuzz).
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)
which=${1:-all}
seconds=${2:-60}
work=${FUZZ_OUT:-/tmp/pgba-fuzz}
say() { printf '%s\n' "fuzz: $*" >&2; }

sudo=""; if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
if ! command -v afl-fuzz >/dev/null; then
  say "installing afl++"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq afl++ >/dev/null
fi
tools=$work/tools
if [ ! -x "$tools/sharpfuzz" ]; then
  say "installing SharpFuzz.CommandLine 2.3.0"
  dotnet tool install SharpFuzz.CommandLine --version 2.3.0 --tool-path "$tools" >/dev/null
fi

out=$work/build
say "building the harness (Release) into $out"
rm -rf "$out"
dotnet publish -c Release -v quiet --nologo -o "$out" tests/PgBouncerActors.Fuzz >/dev/null
# The seeds first: instrumented assemblies run only under AFL++.
seeds=$work/seeds
rm -rf "$seeds"
dotnet "$out/PgBouncerActors.Fuzz.dll" --seeds "$seeds"
# Instrument what the targets exercise: the pooler's own assemblies, not the runtime or the fuzzer.
for assembly in PgBouncerActors.Protocol.dll PgBouncerActors.Hocon.dll pgbouncer-actors.dll; do
  "$tools/sharpfuzz" "$out/$assembly" >/dev/null
done
targets=$(ls "$seeds")
if [ "$which" != all ]; then targets=$which; fi

# AFL++ in a container: no CPU frequency scaling to check, no core pattern to change, a .NET host as the target.
export AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_SKIP_BIN_CHECK=1 AFL_NO_UI=1 AFL_NO_AFFINITY=1
export DOTNET_TieredPGO=0 DOTNET_TC_QuickJitForLoops=1

results=$work/results.tsv
: >"$results"
for target in $targets; do
  findings=$work/findings/$target
  rm -rf "$findings"
  mkdir -p "$work/findings"
  say "$target: fuzzing for ${seconds}s"
  afl-fuzz -V "$seconds" -t 5000 -m none -i "$seeds/$target" -o "$findings" -- "$(command -v dotnet)" "$out/PgBouncerActors.Fuzz.dll" "$target" \
    >"$work/$target.log" 2>&1 || say "$target: afl-fuzz ended with $? (see $work/$target.log)"
  stats=$findings/default/fuzzer_stats
  value() { awk -F' *: *' -v k="$1" '$1 == k { print $2 }' "$stats" 2>/dev/null; }
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$target" "$(value execs_done)" "$(value execs_per_sec)" "$(value corpus_count)" \
    "$(value saved_crashes)" "$(value saved_hangs)" >>"$results"
done

printf '%-18s %12s %10s %8s %8s %6s\n' target executions execs/s paths crashes hangs
awk -F'\t' '{ printf "%-18s %12s %10s %8s %8s %6s\n", $1, $2, $3, $4, $5, $6 }' "$results"
crashes=$(awk -F'\t' '{ n += $5 } END { print n + 0 }' "$results")
say "findings in $work/findings; crashes in all: $crashes"
[ "$crashes" = 0 ]
