#!/usr/bin/env bash
# The README's test command: install what is missing, build, run the whole test suite.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh
swift format lint --strict --recursive Sources Tests Package.swift
swift build --build-tests
# The actionlint, PostgreSQL, nginx, Chromium and workflow-services tests fail (instead of skipping) when their tool is missing;
# with-postgres.sh runs the suite against a throwaway PostgreSQL cluster on 127.0.0.1.
SHIPGATE_REQUIRE_ACTIONLINT=1 SHIPGATE_REQUIRE_POSTGRES=1 SHIPGATE_REQUIRE_NGINX=1 SHIPGATE_REQUIRE_CHROMIUM=1 SHIPGATE_REQUIRE_MOUNT=1 SHIPGATE_REQUIRE_SERVICES=1 scripts/with-postgres.sh swift test --skip-build
