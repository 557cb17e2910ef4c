#!/usr/bin/env bash
# Sets up a fresh clone: the pinned pnpm, then every package (better-sqlite3 compiles here).
set -euo pipefail
cd "$(dirname "$0")/.."
PNPM_VERSION=12.4.2
if ! command -v pnpm >/dev/null 2>&1 || [ "$(pnpm --version)" != "$PNPM_VERSION" ]; then
  npm install -g "pnpm@$PNPM_VERSION" >/dev/null
fi
# node-gyp must build better-sqlite3 against the installed Node headers, not download them.
if [ -f /usr/include/node/node.h ]; then export npm_config_nodedir=/usr; fi
# Headless Chromium for the SDK's browser tests (Debian's package; Playwright's own download
# cannot reach its host here). Skipped where it is installed or apt-get is not there, and
# with BADGESYNC_SETUP_BROWSER=0 (the container build runs no browser).
if [ "${BADGESYNC_SETUP_BROWSER:-1}" != "0" ] && [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
# PostgreSQL and Redis on 127.0.0.1 for cluster mode and its tests (Debian's packages, see
# scripts/setup-services.sh): each is installed and started only where it does not answer
# already. BADGESYNC_SETUP_SERVICES=0 skips it (a machine without them runs SQLite only).
if [ "${BADGESYNC_SETUP_SERVICES:-1}" != "0" ]; then
  bash scripts/setup-services.sh
fi
if [ "${CI:-}" = "true" ]; then
  pnpm install --frozen-lockfile
else
  pnpm install
fi
