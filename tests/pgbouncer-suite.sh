#!/usr/bin/env bash
# PgBouncer 1.25.2's own pytest suite against this pooler, started exactly as the suite starts
# PgBouncer (`pgbouncer-actors [-d] [-q] [-v] [-u USER] INI`, stopped with SIGQUIT/SIGINT/SIGTERM):
# publishes the pooler, runs ../shared/reference/pgbouncer-suite.sh on it, and fails when fewer
# tests pass than the floor in tests/pgbouncer-suite.floor (the floor only goes up).
#   bash tests/pgbouncer-suite.sh            (about 10 minutes on 2 cores; needs root or sudo for apt and the suite's user)
# Env: PGBOUNCER_REFERENCE (the folder holding pgbouncer-suite.sh; default ../shared/reference, then /work/shared/reference),
#      WORK (default /tmp/pgba-pgbouncer-suite), TESTS (a narrower selection; the floor is then not checked).
set -uo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
reference=${PGBOUNCER_REFERENCE:-}
for candidate in "$repo/../shared/reference" /work/shared/reference; do
  if [ -z "$reference" ] && [ -f "$candidate/pgbouncer-suite.sh" ]; then reference=$(cd "$candidate" && pwd); fi
done
if [ -z "$reference" ] || [ ! -f "$reference/pgbouncer-suite.sh" ]; then
  echo "pgbouncer-suite: not run: PgBouncer 1.25.2's source and suite runner (../shared/reference) are not on this machine"
  exit 0
fi
work=${WORK:-/tmp/pgba-pgbouncer-suite}
publish="$work-bin"
rm -rf "$publish"
dotnet publish "$repo/src/PgBouncerActors" -c Release -o "$publish" >/dev/null || { echo "pgbouncer-suite: the publish failed" >&2; exit 1; }
WORK="$work" bash "$reference/pgbouncer-suite.sh" "$publish/pgbouncer-actors" > "$work.log" 2>&1
# The online-restart tests leave their first pooler running when the second (-R) is refused: stop what is left.
pkill -QUIT -f "$publish/pgbouncer-actors" 2>/dev/null || true
summary=$(tail -1 "$work.log")
grep -E '^test_[a-z_]+ +[0-9]+ passed' "$work.log"
echo "pgbouncer-suite: $summary (full output: $work.log, results: $work/results.xml)"
passed=$(sed -nE 's/^([0-9]+) passed, .*/\1/p' <<<"$summary")
if [ -z "$passed" ]; then
  echo "pgbouncer-suite: the suite did not report a result" >&2
  tail -30 "$work.log" >&2
  exit 1
fi
if [ -n "${TESTS:-}" ]; then exit 0; fi
floor=$(tr -dc '0-9' < "$repo/tests/pgbouncer-suite.floor")
if [ "$passed" -lt "$floor" ]; then
  echo "pgbouncer-suite: $passed passed, below the floor of $floor (tests/pgbouncer-suite.floor)" >&2
  exit 1
fi
echo "pgbouncer-suite: at or above the floor of $floor"
