#!/usr/bin/env bash
# PostgreSQL and Redis for cluster mode and its tests (docs/CLUSTER.md): each one that is not
# reachable on 127.0.0.1 is installed from Debian's packages (where apt-get is, as root) and
# started; one that answers is left alone, so running this again changes nothing.
#   --check   only report reachability: exit 0 when both answer, 1 otherwise; installs nothing.
# PostgreSQL gets `trust` for local TCP (user postgres, no password): for development and
# tests on this machine, never for a server others can reach.
set -euo pipefail
HOST=127.0.0.1
PG_PORT="${BADGESYNC_SETUP_PG_PORT:-5432}"
REDIS_PORT="${BADGESYNC_SETUP_REDIS_PORT:-6379}"
# A local service answers a TCP connect in milliseconds; 2 s covers a loaded machine.
CONNECT_TIMEOUT_S=2
# Started services take a few seconds (PostgreSQL's first start initialises); 30 s is generous.
START_TIMEOUT_S=30

reachable() { timeout "$CONNECT_TIMEOUT_S" bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null; }

wait_reachable() {
  local name=$1 port=$2 i
  for ((i = 0; i < START_TIMEOUT_S * 4; i++)); do
    if reachable "$HOST" "$port"; then echo "$name: started ($HOST:$port)"; return 0; fi
    sleep 0.25
  done
  echo "$name: started but not reachable on $HOST:$port after ${START_TIMEOUT_S}s" >&2
  return 1
}

if [ "${1:-}" = "--check" ]; then
  status=0
  for service in "postgresql $PG_PORT" "redis $REDIS_PORT"; do
    set -- $service
    if reachable "$HOST" "$2"; then echo "$1: reachable ($HOST:$2)"; else echo "$1: not reachable ($HOST:$2)"; status=1; fi
  done
  exit "$status"
fi

can_install() {
  if ! command -v apt-get >/dev/null 2>&1; then echo "$1: not reachable on $HOST:$2 and no apt-get: install it yourself" >&2; return 1; fi
  if [ "$(id -u)" != "0" ]; then echo "$1: not reachable on $HOST:$2; run this as root to install it" >&2; return 1; fi
}

APT_UPDATED=0
apt_install() {
  if [ "$APT_UPDATED" = 0 ]; then apt-get update -qq; APT_UPDATED=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

if reachable "$HOST" "$PG_PORT"; then
  echo "postgresql: reachable ($HOST:$PG_PORT), left alone"
elif can_install postgresql "$PG_PORT"; then
  command -v pg_ctlcluster >/dev/null 2>&1 || apt_install postgresql
  version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)
  if [ -z "$version" ]; then
    version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
    pg_createcluster "$version" main >/dev/null
  fi
  hba="/etc/postgresql/$version/main/pg_hba.conf"
  if ! grep -q '^# badgesync: trust local TCP' "$hba"; then
    # First lines win in pg_hba.conf. sed -i keeps the file's owner and mode.
    sed -i '1i # badgesync: trust local TCP (development and tests only)\nhost all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
  fi
  sed -i "s/^#\?port = .*/port = $PG_PORT/" "/etc/postgresql/$version/main/postgresql.conf"
  pg_ctlcluster "$version" main start 2>/dev/null || pg_ctlcluster "$version" main restart
  wait_reachable postgresql "$PG_PORT"
fi

if reachable "$HOST" "$REDIS_PORT"; then
  echo "redis: reachable ($HOST:$REDIS_PORT), left alone"
elif can_install redis "$REDIS_PORT"; then
  command -v redis-server >/dev/null 2>&1 || apt_install redis-server
  # Daemonised without systemd (containers have none); no snapshots: tests need no durability.
  redis-server --daemonize yes --bind "$HOST" --port "$REDIS_PORT" --save '' --appendonly no --dir /tmp >/dev/null
  wait_reachable redis "$REDIS_PORT"
fi
