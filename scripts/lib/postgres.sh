# A throwaway PostgreSQL on 127.0.0.1 for the tests; sets CEREMONY_TEST_POSTGRES_URL.
start_test_postgres() {
  local bin
  bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  if [ -z "$bin" ]; then echo "postgres: not installed" >&2; return 1; fi
  PG_DIR=$(mktemp -d /tmp/ceremony-pg.XXXXXX)
  PG_PORT=${PG_PORT:-$((20000 + RANDOM % 20000))}
  chown postgres "$PG_DIR"
  runuser -u postgres -- "$bin/initdb" -D "$PG_DIR/data" -A trust -U postgres >/dev/null
  runuser -u postgres -- "$bin/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/log" -w \
    -o "-c listen_addresses=127.0.0.1 -c port=$PG_PORT -c unix_socket_directories=$PG_DIR -c fsync=off" \
    start >/dev/null
  export CEREMONY_TEST_POSTGRES_URL="postgresql://postgres@127.0.0.1:$PG_PORT/postgres"
  export PG_BIN=$bin
  echo "postgres: started on 127.0.0.1:$PG_PORT"
}

stop_test_postgres() {
  if [ -n "${PG_DIR:-}" ] && [ -d "$PG_DIR/data" ]; then
    runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$PG_DIR"
  fi
}
