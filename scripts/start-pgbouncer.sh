#!/usr/bin/env bash
# Starts Debian's PgBouncer (1.18: no protocol-level prepared statements) in
# transaction mode on a free local port, in front of the PostgreSQL at
# $PGBOUNCER_UPSTREAM (default 127.0.0.1:5432), for the pooler tests:
#   eval "$(scripts/start-pgbouncer.sh)"      # exports DEDUPE_TEST_POOLER_URL
#   npx vitest run test/cli/pooler.test.ts
#   scripts/start-pgbouncer.sh stop           # or kill "$(cat "$PGBOUNCER_DIR/pgbouncer.pid")"
# Install it first: apt-get install -y pgbouncer (.ci/run does).
set -euo pipefail

upstream="${PGBOUNCER_UPSTREAM:-127.0.0.1:5432}"
dir="${PGBOUNCER_DIR:-/tmp/dedupe-pgbouncer}"

if [[ "${1:-}" == "stop" ]]; then
  [[ -f "$dir/pgbouncer.pid" ]] && kill "$(cat "$dir/pgbouncer.pid")" 2>/dev/null || true
  exit 0
fi

bin="$(command -v pgbouncer || echo /usr/sbin/pgbouncer)"
if [[ ! -x "$bin" ]]; then
  echo "pgbouncer is not installed: apt-get install -y pgbouncer" >&2
  exit 2
fi

# A running one from an earlier call is replaced.
[[ -f "$dir/pgbouncer.pid" ]] && kill "$(cat "$dir/pgbouncer.pid")" 2>/dev/null && sleep 0.5 || true
mkdir -p "$dir"
port="$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"

cat > "$dir/userlist.txt" <<USERS
"postgres" ""
USERS
cat > "$dir/pgbouncer.ini" <<INI
[databases]
* = host=${upstream%:*} port=${upstream##*:}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir =
auth_type = trust
auth_file = $dir/userlist.txt
pool_mode = transaction
max_client_conn = 2000
default_pool_size = 40
ignore_startup_parameters = extra_float_digits
pidfile = $dir/pgbouncer.pid
logfile = $dir/pgbouncer.log
INI

# PgBouncer refuses to run as root: run it as the postgres system user then.
if [[ "$(id -u)" == "0" ]]; then
  chown -R postgres "$dir"
  runuser -u postgres -- "$bin" -d "$dir/pgbouncer.ini"
else
  "$bin" -d "$dir/pgbouncer.ini"
fi

for _ in $(seq 50); do
  pg_isready -h 127.0.0.1 -p "$port" -q 2>/dev/null && break
  sleep 0.1
done
echo "export DEDUPE_TEST_POOLER_URL='postgresql://postgres@127.0.0.1:$port/postgres?pgbouncer=true'"
echo "export PGBOUNCER_DIR='$dir'"
