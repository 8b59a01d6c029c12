#!/usr/bin/env bash
# Runs one test of one part with its log captured, then turns the log into an HTML timeline.
#   ./dotest.sh Part1 TestElectionFollowerComesBack
# Prints the page's file:// path. Extra arguments after the test name go to `dotnet test`.
set -euo pipefail
cd "$(dirname "$0")"

usage() {
  echo "usage: ./dotest.sh PART TEST_NAME   (PART is one of: $(ls -d Part*/ 2>/dev/null | tr -d / | tr '\n' ' '))" >&2
  exit 2
}
[ $# -ge 2 ] || usage
part=$1 test=$2
shift 2
[ -f "$part/Raft.sln" ] || { echo "dotest.sh: no part named '$part'" >&2; usage; }
[[ $test =~ ^[A-Za-z0-9_]+$ ]] || { echo "dotest.sh: '$test' is not a test name" >&2; usage; }

logdir=artifacts/testlogs/$part
trx=$test.trx
rm -f "$logdir/$trx"
# The TRX file keeps every test's output (all servers' log lines) with its name and outcome.
status=0
dotnet test "$part" --nologo -v q --filter "FullyQualifiedName=Raft.RaftTests.$test" --logger "trx;LogFileName=$trx" \
  --results-directory "$logdir" "$@" || status=$?
[ -f "$logdir/$trx" ] || { echo "dotest.sh: no test log was written (did '$test' match a test?)" >&2; exit 1; }
echo "Log: $PWD/$logdir/$trx"

if [ -f Tools/TestLogViz/TestLogViz.csproj ]; then
  # The visualizer prints each test's status and page, then the run's status; the page's address
  # is repeated last, to be easy to find and click.
  viz=$(dotnet run --project Tools/TestLogViz -v q -- "$logdir/$trx" --out "$PWD/$logdir") || status=$?
  echo "$viz"
  page=$(sed -n 's/^\.\.\. Emitted //p' <<<"$viz" | tail -n 1)
  [ -z "$page" ] || echo "$page"
fi
exit $status
