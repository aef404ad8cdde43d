#!/usr/bin/env bash
# The README's main job: install what is missing, build shipgate, run the demo pipeline.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh
swift build --product shipgate
exec .build/debug/shipgate run pipelines/demo.yml "$@"
