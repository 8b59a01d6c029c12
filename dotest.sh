#!/usr/bin/env bash
# Runs one test of one part with its log captured, then turns the log into an HTML timeline.
#   ./dotest.sh Part1 TestElectionFollowerComesBack
# Prints the page's file:// path last. Options after the test name go to `dotnet test`.
# The work is done by `dotnet run --project Tools/TestLogViz -- run PART TEST_NAME`, which is the
# same command without bash (on Windows, say); this script only saves typing it.
set -euo pipefail
cd "$(dirname "$0")"
exec dotnet run --project Tools/TestLogViz -v q -- run "$@"
