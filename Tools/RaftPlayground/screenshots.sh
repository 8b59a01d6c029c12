#!/usr/bin/env bash
# Writes the README's pictures of the playground into Tools/RaftPlayground/screenshots/: the
# browser tests take them as they drive the page (a Put, a partition, the Figure 7 scenario, a message in flight,
# the first election seen again through time travel, the whole page at 1600x1000).
# Needs Chromium and ChromeDriver, as the browser tests do.
set -euo pipefail
cd "$(dirname "$0")/../.."
export RAFTPLAYGROUND_SCREENSHOTS="$PWD/Tools/RaftPlayground/screenshots"
export TESTLOGVIZ_REQUIRE_BROWSER=1
dotnet test Tools/RaftPlayground.Tests --filter "FullyQualifiedName~PageShowsRingLogsAndPartition|FullyQualifiedName~PageShowsFigure7Scenario|FullyQualifiedName~PageSlowMotionPauseStepAndMessages|FullyQualifiedName~PageTimeTravelsToTheFirstElectionAndContinuesFromThere|FullyQualifiedName~PageFits1600x1000"
ls -l "$RAFTPLAYGROUND_SCREENSHOTS"
