#!/usr/bin/env bash
# PostgreSQL 15's own regression suite, straight against PostgreSQL and through PgBouncerActors in
# transaction mode (and through PgBouncer 1.25.2 when PGB is given), side by side.
#
#   bash tests/pg-regress.sh schedule                 # the whole parallel_schedule, each way
#   bash tests/pg-regress.sh isolated prepare temp    # each test alone after test_setup, on a fresh
#                                                     # cluster and a freshly started pooler (no other
#                                                     # test's session state reaches it)
#
# Needs root (the cluster runs as postgres). Fetches Debian's postgresql-15 source (deb-src is
# switched on when missing) and builds regress.so from it. Env: WORK (default /tmp/pgba-regress),
# PGB (a PgBouncer executable to run the schedule through as well). Results: $WORK/<way>/summary.txt
# and regression.diffs; a line per test for isolated runs.
set -euo pipefail
mode=${1:?usage: pg-regress.sh schedule | isolated TEST...}; shift
repo=$(cd "$(dirname "$0")/.." && pwd)
work=${WORK:-/tmp/pgba-regress}
bin=/usr/lib/postgresql/15/bin
pg_regress=/usr/lib/postgresql/15/lib/pgxs/src/test/regress/pg_regress
mkdir -p "$work"

# --- the suite and regress.so --------------------------------------------------------------------
if [ ! -d "$work/src/test/regress" ]; then
  if ! apt-cache showsrc postgresql-15 >/dev/null 2>&1; then
    sed -i 's/^Types: deb$/Types: deb deb-src/' /etc/apt/sources.list.d/debian.sources && apt-get update -qq
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-server-dev-15 >/dev/null
  # The installed minor release first; the mirror may only hold another one's source (a minor release changes no expected output).
  installed=$("$bin/postgres" --version | grep -o '15\.[0-9]*' | head -1)
  for version in "$installed-0+deb12u1" $(apt-cache showsrc postgresql-15 | awk '/^Version:/ {print $2}' | sort -rV); do
    (cd "$work" && apt-get source --download-only "postgresql-15=$version" >/dev/null 2>&1) && break
  done
  tar -xjf "$work"/postgresql-15_*.orig.tar.bz2 -C "$work" --strip-components=1 --wildcards '*/src/test/regress'
  mkdir -p "$work/lib"
  gcc -shared -fPIC -O2 -I"$(pg_config --includedir-server)" "$work/src/test/regress/regress.c" -o "$work/lib/regress.so"
  cp /usr/lib/postgresql/15/lib/autoinc.so /usr/lib/postgresql/15/lib/refint.so "$work/lib/"
fi
regress=$work/src/test/regress
chown -R postgres "$work"

# --- a fresh cluster (an earlier run leaves roles, subscriptions, tablespaces) -----------------------
fresh_cluster() {
  runuser -u postgres -- "$bin/pg_ctl" -D "$work/data" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$work/data"; mkdir -p "$work/sock"; chown postgres "$work/sock"
  runuser -u postgres -- "$bin/initdb" -D "$work/data" -A trust -U postgres >/dev/null
  printf "port = 27432\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '%s/sock'\nmax_connections = 200\nfsync = off\n" "$work" >> "$work/data/postgresql.conf"
  runuser -u postgres -- "$bin/pg_ctl" -D "$work/data" -l "$work/pg.log" -w start >/dev/null
  psql -h 127.0.0.1 -p 27432 -U postgres -d postgres -q -c "create database regression"
}

# --- the poolers -----------------------------------------------------------------------------------
dotnet publish "$repo/src/PgBouncerActors" -c Release -o "$work/pooler" -v quiet --nologo >/dev/null
echo '"postgres" ""' > "$work/users.txt"
ini() { # ini PORT FILE
  cat > "$2" <<EOF
[databases]
* = host=127.0.0.1 port=27432
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $1
unix_socket_dir =
auth_type = trust
auth_file = $work/users.txt
pool_mode = transaction
default_pool_size = 20
max_client_conn = 500
max_prepared_statements = 200
ignore_startup_parameters = extra_float_digits
pidfile = $work/pooler-$1.pid
logfile = $work/pooler-$1.log
EOF
  chown postgres "$2"
}
start_pooler() { # start_pooler PORT
  stop_pooler "$1"; ini "$1" "$work/pooler-$1.ini"
  if [ "$1" = 27433 ]; then
    runuser -u postgres -- sh -c "'$work/pooler/pgbouncer-actors' '$work/pooler-$1.ini' > '$work/pooler-$1.out' 2>&1 &"
  else
    runuser -u postgres -- "$PGB" -d "$work/pooler-$1.ini"
  fi
  for _ in $(seq 50); do psql -h 127.0.0.1 -p "$1" -U postgres -d regression -qAtc "select 1" >/dev/null 2>&1 && return; sleep 0.2; done
  echo "the pooler on $1 did not start" >&2; exit 1
}
stop_pooler() { pkill -f "pooler-$1.ini" 2>/dev/null || true; sleep 0.5; }

run() { # run PORT OUT ARGS...
  local port=$1 out=$2; shift 2
  rm -rf "$out"; mkdir -p "$out"; chown postgres "$out"
  (cd "$regress" && runuser -u postgres -- "$pg_regress" --inputdir="$regress" --outputdir="$out" --bindir="$bin" \
    --dlpath="$work/lib" --use-existing --host=127.0.0.1 --port="$port" --user=postgres --dbname=regression "$@" > "$out/summary.txt" 2>&1) || true
}

ways=("direct 27432" "pgbouncer-actors 27433"); [ -n "${PGB:-}" ] && ways+=("pgbouncer 27434")
case $mode in
  schedule)
    for way in "${ways[@]}"; do
      set -- $way
      fresh_cluster; [ "$2" = 27432 ] || start_pooler "$2"
      run "$2" "$work/$1" --max-concurrent-tests=20 --schedule="$regress/parallel_schedule"
      [ "$2" = 27432 ] || stop_pooler "$2"
      echo "$1: $(grep -E 'tests (passed|failed)' "$work/$1/summary.txt")"
    done ;;
  isolated)
    for test in "$@"; do
      line="$test:"
      for way in "${ways[@]:0:2}"; do
        set -- $way
        fresh_cluster; [ "$2" = 27432 ] || start_pooler "$2"
        run "$2" "$work/isolated/$1/$test" test_setup "$test"
        [ "$2" = 27432 ] || stop_pooler "$2"
        line+=" $1 $(grep -E "^(test|     ) *$test " "$work/isolated/$1/$test/summary.txt" | grep -o 'ok\|FAILED' | head -1)"
      done
      same=$(diff -q "$work/isolated/direct/$test/results/$test.out" "$work/isolated/pgbouncer-actors/$test/results/$test.out" >/dev/null && echo same || echo differs)
      echo "$line, output $same"
    done ;;
esac
runuser -u postgres -- "$bin/pg_ctl" -D "$work/data" -m fast -w stop >/dev/null 2>&1 || true
