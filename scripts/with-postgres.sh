#!/usr/bin/env bash
# with-postgres.sh COMMAND...: runs COMMAND with a throwaway PostgreSQL cluster on 127.0.0.1
# (Debian's postgresql package), exported as SHIPGATE_TEST_POSTGRES_URL; stops and removes the
# cluster afterwards. Without PostgreSQL installed it runs COMMAND as is.
set -euo pipefail
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
if [ -z "$PGBIN" ] || [ ! -x "$PGBIN/initdb" ]; then
  echo "with-postgres: PostgreSQL is not installed; running without it" >&2
  exec "$@"
fi
DIR=$(mktemp -d /tmp/shipgate-pg.XXXXXX)
PORT=${SHIPGATE_PG_PORT:-$((55000 + RANDOM % 5000))}
RUNAS=()
if [ "$(id -u)" = 0 ]; then
  chown postgres "$DIR"
  RUNAS=(runuser -u postgres --)
fi
stop() {
  "${RUNAS[@]}" "$PGBIN/pg_ctl" -D "$DIR/data" -m immediate stop > /dev/null 2>&1 || true
  rm -rf "$DIR"
}
trap stop EXIT
"${RUNAS[@]}" "$PGBIN/initdb" -D "$DIR/data" -U postgres -A trust --no-sync > "$DIR/initdb.log" 2>&1 || { cat "$DIR/initdb.log" >&2; exit 1; }
"${RUNAS[@]}" "$PGBIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w \
  -o "-p $PORT -k $DIR -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c max_connections=200" start > /dev/null \
  || { cat "$DIR/server.log" >&2; exit 1; }
echo "with-postgres: PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$PORT" >&2
export SHIPGATE_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$PORT/postgres?sslmode=disable"
"$@"
