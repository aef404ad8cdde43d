#!/usr/bin/env bash
# bench/state.sh — gate-check and deploy-lock latency of the state store, SQLite against
# PostgreSQL (a throwaway local cluster via scripts/with-postgres.sh), through `shipgate state bench`.
#
#   bench/state.sh               # 500 iterations each
#   ITERATIONS=2000 bench/state.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ITERATIONS=${ITERATIONS:-500}
SHIPGATE=${SHIPGATE:-$PWD/.build/release/shipgate}
[ -x "$SHIPGATE" ] || swift build -c release --product shipgate
export SHIPGATE ITERATIONS
scripts/with-postgres.sh bash -c '
  set -euo pipefail
  tmp=$(mktemp -d /tmp/shipgate-state-bench.XXXXXX)
  trap "rm -rf $tmp" EXIT
  "$SHIPGATE" state bench --state "sqlite:$tmp/state.db" --iterations "$ITERATIONS"
  if [ -n "${SHIPGATE_TEST_POSTGRES_URL:-}" ]; then
    "$SHIPGATE" state bench --state "$SHIPGATE_TEST_POSTGRES_URL" --iterations "$ITERATIONS"
  else
    echo "PostgreSQL is not installed: only SQLite was measured" >&2
  fi
'
