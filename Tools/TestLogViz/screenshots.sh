#!/usr/bin/env bash
# Writes the README's pictures of a test page's player into Tools/TestLogViz/screenshots/: the
# browser tests take them as they drive a real recorded run (Part2's TestCommitOneCommand, seed 1).
# Needs Chromium and ChromeDriver, as the browser tests do.
set -euo pipefail
cd "$(dirname "$0")/../.."
export TESTLOGVIZ_SCREENSHOTS="$PWD/Tools/TestLogViz/screenshots"
export TESTLOGVIZ_REQUIRE_BROWSER=1
dotnet test Tools/TestLogViz.Tests --filter "FullyQualifiedName~PlayerTests"
rm -f "$TESTLOGVIZ_SCREENSHOTS"/[!p]*.png   # the other browser tests' pictures, if any
ls -l "$TESTLOGVIZ_SCREENSHOTS"
