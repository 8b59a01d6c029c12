#!/usr/bin/env bash
# Runs one test of one part with its log captured, then turns the log into an HTML timeline.
#   ./dotest.sh Part1 TestElectionFollowerComesBack
# Prints the page's file:// path last. Options after the test name go to `dotnet test`.
# Or runs a test many times, a few at a time, and keeps the pages of the runs that failed:
#   ./dotest.sh repeat Part3 Figure8WithLossAndReordering -n 500 -p 2 --seed 1
# The work is done by `dotnet run --project Tools/TestLogViz -- run PART TEST_NAME` (or `-- repeat ...`),
# which is the same command without bash (on Windows, say); this script only saves typing it.
set -euo pipefail
cd "$(dirname "$0")"
if [ "${1:-}" = "repeat" ]; then
  exec dotnet run --project Tools/TestLogViz -v q -- "$@"
fi
exec dotnet run --project Tools/TestLogViz -v q -- run "$@"
