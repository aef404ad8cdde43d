#!/usr/bin/env bash
# The README's test command: install what is missing, build, run the whole test suite.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh
swift format lint --strict --recursive Sources Tests Package.swift
swift build --build-tests
# The actionlint tests fail (instead of skipping) when actionlint is missing.
SHIPGATE_REQUIRE_ACTIONLINT=1 swift test --skip-build
