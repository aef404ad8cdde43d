#!/usr/bin/env bash
# Installs what shipgate needs to build, test and run its demo on Debian/Ubuntu.
# Idempotent: installs only packages that are missing. Needs root (or sudo) for apt-get.
set -euo pipefail

need_apt=()
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
for pkg in libsqlite3-dev libgit2-dev pkg-config python3 git nginx-light; do
  have_pkg "$pkg" || need_apt+=("$pkg")
done

if ((${#need_apt[@]})); then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "==> installing ${need_apt[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if ! command -v swift >/dev/null 2>&1; then
  echo "error: the Swift toolchain (6.0 or later) is not on PATH." >&2
  echo "  Install it from swift.org (or swiftly), then run this again." >&2
  exit 1
fi
