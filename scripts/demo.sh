#!/usr/bin/env bash
# The README's main job: install what is missing, build shipgate, run the demo pipeline, then
# the deploy-gate walkthrough (staging, a blocked prod gate, two approvals, resume, rollback),
# then the release console walkthrough (approve in the web console and through its API).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh
swift build --product shipgate
.build/debug/shipgate run pipelines/demo.yml "$@"
SHIPGATE=$PWD/.build/debug/shipgate scripts/deploy-demo.sh
SHIPGATE=$PWD/.build/debug/shipgate scripts/console-demo.sh
