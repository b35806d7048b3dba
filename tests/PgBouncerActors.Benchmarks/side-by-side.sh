#!/usr/bin/env bash
# The side-by-side benchmark: PgBouncer 1.25.2 (the newest release, built from the source in
# ../shared/reference), Debian's PgBouncer 1.18 (kept for continuity with earlier notes) and
# PgBouncerActors in front of one scratch PostgreSQL, with the same pool size, modes and SCRAM
# authentication, each scenario run against each in alternation, one table at the end with a ratio
# per row (PgBouncerActors / PgBouncer 1.25.2).
#
#   bash tests/PgBouncerActors.Benchmarks/side-by-side.sh
#
# Knobs (environment): BENCH_SECONDS (per pgbench run, default 15), BENCH_ROUNDS (alternations,
# default 2), BENCH_IDLE_CLIENTS (default 10000), BENCH_SCALE (pgbench scale, default 10),
# BENCH_WARMUP (seconds of warm-up traffic per pooler before the rows, default 30), BENCH_METRICS=0 runs PgBouncerActors without /metrics (default 1: on, as operators run it, so its
# histograms are part of what is measured), BENCH_KEEP=1 keeps the scratch folder, BENCH_ONLY=TEXT runs only the rows whose name holds TEXT (TEXT|TEXT... any of them),
# BENCH_POOLERS (default "bouncer bouncer118 actors"; bouncer118 is left out when Debian's pgbouncer is
# missing), BENCH_BEFORE=EXE adds a pooler "before": another PgBouncerActors executable (say, main's
# before a change, built in a git worktree) with the same settings, so a change is measured against
# what it changes in one run (it runs just before actors unless BENCH_POOLERS places it).
# BENCH_COUNTERS=1 also profiles contention in PgBouncerActors (and before) during each pgbench row with
# dotnet-counters (installed as a global tool when missing): monitor lock contentions and thread-pool
# work items per 100,000 transactions, the thread pool's longest queue, bytes allocated per transaction
# and GC collections per generation per 100,000 (its session costs the pooler some CPU: leave it off
# for the CPU column).
# Installs postgresql (and Debian's pgbouncer, when it can) from apt when missing.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)

run_seconds=${BENCH_SECONDS:-15}
rounds=${BENCH_ROUNDS:-2}
idle_clients=${BENCH_IDLE_CLIENTS:-10000}
scale=${BENCH_SCALE:-10}
pool_size=20

say() { printf '%s\n' "bench: $*" >&2; }

# --- what it needs -------------------------------------------------------------------------------
sudo=""; if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
missing=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql postgresql-contrib)
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if ! command -v pgbouncer >/dev/null; then
  say "installing Debian's pgbouncer (1.18) for its rows"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq pgbouncer >/dev/null 2>&1 || say "no Debian pgbouncer: its rows are left out"
fi
say "building PgBouncer 1.25.2 from ../shared/reference"
bouncer_exe=$(bash "$repo/../shared/reference/build-pgbouncer.sh" | tail -1)
bouncer118_exe=$(command -v pgbouncer || true)
poolers=${BENCH_POOLERS:-bouncer bouncer118 actors}
if [ -z "$bouncer118_exe" ]; then poolers=${poolers/bouncer118/}; fi
before_exe=${BENCH_BEFORE:-}
if [ -n "$before_exe" ] && [[ " $poolers " != *" before "* ]]; then poolers=${poolers/actors/before actors}; fi
if [ -z "$before_exe" ]; then poolers=${poolers/before/}; fi
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
counters_exe=""
if [ "${BENCH_COUNTERS:-0}" = 1 ]; then
  counters_exe=$(command -v dotnet-counters || echo "$HOME/.dotnet/tools/dotnet-counters")
  [ -x "$counters_exe" ] || dotnet tool install -g dotnet-counters >/dev/null
fi
# PostgreSQL and PgBouncer refuse to run as root.
as_service() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
# 10,000 idle clients need 10,000 descriptors in the pooler and in the client.
ulimit -n "$(ulimit -Hn)"

say "building PgBouncerActors and the load tester (Release)"
dotnet build -c Release -v quiet --nologo src/PgBouncerActors >/dev/null
dotnet build -c Release -v quiet --nologo tests/PgBouncerActors.LoadTester >/dev/null
actors_exe=$repo/src/PgBouncerActors/bin/Release/net10.0/pgbouncer-actors
load_exe=$repo/tests/PgBouncerActors.LoadTester/bin/Release/net10.0/pgba-load

work=$(mktemp -d /tmp/pgba-bench.XXXXXX)
chmod 755 "$work"
if [ "$(id -u)" = 0 ]; then chown postgres "$work"; fi
pids=()
cleanup() {
  for pid in "${pids[@]}" "$(cat "$work/bouncer.pid" 2>/dev/null)" "$(cat "$work/bouncer118.pid" 2>/dev/null)"; do kill -TERM "$pid" 2>/dev/null || true; done
  as_service "$pgbin/pg_ctl" -D "$work/data" -m immediate stop >/dev/null 2>&1 || true
  if [ "${BENCH_KEEP:-0}" != 1 ]; then rm -rf "$work"; else say "kept $work"; fi
}
trap cleanup EXIT

# free_port NAME: sets NAME to a port nothing listens on (in this shell: a $(...) subshell would
# repeat the parent's RANDOM sequence and hand out the same port twice).
taken_ports=" "
free_port() {
  local port
  while :; do
    # Below the kernel's ephemeral range (32768 and up): a port an outgoing connection holds (the
    # thousand clients of a row, in TIME_WAIT) answers no connect, yet a listener cannot bind it.
    port=$((20000 + RANDOM % 12000))
    if [[ $taken_ports != *" $port "* ]] && ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      taken_ports+="$port "; printf -v "$1" '%s' "$port"; return
    fi
  done
}

# --- a scratch PostgreSQL with a pgbench database ------------------------------------------------
free_port pg_port
say "scratch PostgreSQL on $pg_port ($work)"
as_service "$pgbin/initdb" -D "$work/data" -U postgres --auth-local=trust --auth-host=scram-sha-256 >/dev/null
cat >>"$work/data/postgresql.conf" <<EOF
port = $pg_port
listen_addresses = '127.0.0.1'
unix_socket_directories = '$work'
max_connections = 200
shared_buffers = 256MB
fsync = off
synchronous_commit = off
EOF
as_service "$pgbin/pg_ctl" -D "$work/data" -l "$work/postgres.log" -w start >/dev/null
as_service "$pgbin/psql" -q -h "$work" -p "$pg_port" -U postgres -c "CREATE ROLE bench LOGIN PASSWORD 'bench'" -c "CREATE DATABASE bench OWNER bench"
export PGPASSWORD=bench
"$pgbin/pgbench" -i -q -s "$scale" -h 127.0.0.1 -p "$pg_port" -U bench bench 2>/dev/null

# The SCRAM secret PostgreSQL stores, not the password: neither pooler derives a key per login
# (4096 PBKDF2 rounds), and both log in to the server with the client's own proof (pass-through).
secret=$(as_service "$pgbin/psql" -At -h "$work" -p "$pg_port" -U postgres -c "SELECT rolpassword FROM pg_authid WHERE rolname = 'bench'")
printf '"bench" "%s"\n' "$secret" >"$work/userlist.txt"
chmod 644 "$work/userlist.txt"

# Both poolers offer TLS to clients (client_tls_sslmode = prefer) with one self-signed certificate;
# only the TLS row asks for it (PGSSLMODE=require), every other row runs in plaintext.
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost -keyout "$work/tls.key" -out "$work/tls.crt" >/dev/null 2>&1
chmod 644 "$work/tls.key" "$work/tls.crt"
export PGSSLMODE=disable

# --- PgBouncer and PgBouncerActors, the same settings --------------------------------------------
# bouncer_ini NAME PORT: the same settings for both PgBouncers (NAME.ini, NAME.log, NAME.pid).
bouncer_ini() {
  cat >"$work/$1.ini" <<EOF
[databases]
bench_tx = host=127.0.0.1 port=$pg_port dbname=bench pool_mode=transaction
bench_session = host=127.0.0.1 port=$pg_port dbname=bench pool_mode=session
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $2
client_tls_sslmode = prefer
client_tls_cert_file = $work/tls.crt
client_tls_key_file = $work/tls.key
unix_socket_dir =
auth_type = scram-sha-256
auth_file = $work/userlist.txt
default_pool_size = $pool_size
max_client_conn = $((idle_clients + 2000))
logfile = $work/$1.log
pidfile = $work/$1.pid
log_connections = 0
log_disconnections = 0
EOF
}
# The reference is built under /tmp by whoever ran the build: the postgres user runs a copy of its own.
cp "$bouncer_exe" "$work/pgbouncer-1.25.2"; chmod 755 "$work/pgbouncer-1.25.2"
declare -A port_of pid_of
for pooler in $poolers; do
  [[ $pooler = actors || $pooler = before ]] && continue
  free_port bouncer_port; port_of[$pooler]=$bouncer_port
  bouncer_ini "$pooler" "$bouncer_port"
  exe=$work/pgbouncer-1.25.2; [ "$pooler" = bouncer118 ] && exe=$bouncer118_exe
  # runuser's PAM session lowers the soft descriptor limit again: raise it inside.
  as_service bash -c 'ulimit -n "$(ulimit -Hn)"; exec "$0" "$1"' "$exe" "$work/$pooler.ini" >/dev/null 2>&1 &
  pids+=($!)
done

# start_actors NAME EXE: PgBouncerActors (or the BENCH_BEFORE build) with the settings of the PgBouncers above.
start_actors() {
local name=$1 exe=$2 actors_port metrics="" metrics_port
free_port actors_port
if [ "${BENCH_METRICS:-1}" = 1 ]; then
  free_port metrics_port
  metrics=", metrics { port = $metrics_port }"
fi
cat >"$work/$name.conf" <<EOF
pgbouncer {
  listen_addr = 127.0.0.1, listen_port = $actors_port, auth_type = scram-sha-256, auth_file = "$work/userlist.txt"
  default_pool_size = $pool_size, max_client_conn = $((idle_clients + 2000))
  client_tls_sslmode = prefer, client_tls_cert_file = "$work/tls.crt", client_tls_key_file = "$work/tls.key"
  unix_socket_dir = "" # as the PgBouncer above
}
databases {
  bench_tx { host = 127.0.0.1, port = $pg_port, dbname = bench, pool_mode = transaction }
  bench_session { host = 127.0.0.1, port = $pg_port, dbname = bench, pool_mode = session }
}
pgbouncer-actors { log_level = warning $metrics }
EOF
"$exe" --config "$work/$name.conf" >"$work/$name.log" 2>&1 &
pids+=($!)
port_of[$name]=$actors_port
pid_of[$name]=${pids[-1]}
}
start_actors actors "$actors_exe"
if [ -n "$before_exe" ]; then start_actors before "$before_exe"; fi

wait_for_port() {
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  say "nothing listens on $1"; cat "$work"/*.log >&2; exit 1
}
for pooler in $poolers; do
  wait_for_port "${port_of[$pooler]}"
  if [[ $pooler != actors && $pooler != before ]]; then pid_of[$pooler]=$(cat "$work/$pooler.pid"); fi
done

# CPU seconds (user + system) a process has used so far, from /proc.
cpu_seconds() { awk -v hz="$(getconf CLK_TCK)" '{ print ($14 + $15) / hz }' "/proc/$1/stat"; }
# Context switches (voluntary and not) of every thread of a process so far: each is a thread put to sleep
# and woken again, what waking pool threads for each small step costs (a thread that has exited is not counted).
context_switches() { cat /proc/"$1"/task/*/status 2>/dev/null | awk '/ctxt_switches/ { s += $2 } END { print s + 0 }'; }
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
# pin PID CPUS: every thread of the process onto those cores (taskset -a), as `taskset -c 0 pgbouncer` would start it.
pin() { taskset -a -p -c "$2" "$1" >/dev/null; }

# --- scenarios -----------------------------------------------------------------------------------
results=$work/results.tsv # pooler \t row \t metric \t value
: >"$results"
record() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$results"; }

# wanted ROW: whether BENCH_ONLY (TEXT or TEXT|TEXT...) lets the row run.
wanted() {
  [ -z "${BENCH_ONLY:-}" ] && return 0
  local part
  IFS='|' read -ra parts <<<"$BENCH_ONLY"
  for part in "${parts[@]}"; do [[ $1 == *"$part"* ]] && return 0; done
  return 1
}

# counters_start POOLER SECONDS / counters_record POOLER ROW TPS: with BENCH_COUNTERS=1, dotnet-counters
# watches a PgBouncerActors process for the length of a row (System.Runtime, 1 s intervals, CSV); what it
# counted is divided by the transactions of its window (tps times its length).
counters_start() {
  counters_pid=""
  [[ ${BENCH_COUNTERS:-0} = 1 && ($1 = actors || $1 = before) ]] || return 0
  rm -f "$work/counters.csv"
  counters_window=$(($2 < 59 ? $2 : 59))
  "$counters_exe" collect -p "${pid_of[$1]}" --refresh-interval 1 --format csv -o "$work/counters.csv" \
    --counters System.Runtime --duration "00:00:$(printf '%02d' "$counters_window")" >/dev/null 2>&1 &
  counters_pid=$!
}
counters_record() {
  [ -n "$counters_pid" ] || return 0
  wait "$counters_pid" 2>/dev/null || true
  # Rates are increments per interval; the queue length is a gauge (its highest sample).
  local contentions work_items queue allocated gen0 gen1 gen2
  read -r contentions work_items queue allocated gen0 gen1 gen2 < <(awk -F, '
    $3 ~ /lock_contention/ { c += $NF } $3 ~ /work_item.count|completed-items/ { w += $NF } $3 ~ /queue.length|queue-length/ { if ($NF > q) q = $NF }
    $3 ~ /total_allocated|alloc-rate/ { a += $NF } $3 ~ /collections.*gen0|gen-0-gc/ { g0 += $NF } $3 ~ /collections.*gen1|gen-1-gc/ { g1 += $NF }
    $3 ~ /collections.*gen2|gen-2-gc/ { g2 += $NF }
    END { printf "%d %d %d %d %d %d %d\n", c, w, q, a, g0, g1, g2 }' "$work/counters.csv" 2>/dev/null || echo "0 0 0 0 0 0 0")
  local txs; txs=$(awk -v t="${3:-0}" -v s="$counters_window" 'BEGIN { print t * s }')
  per100k() { awk -v c="$1" -v n="$txs" 'BEGIN { printf "%.1f", (n > 0 ? c / n * 100000 : 0) }'; }
  record "$1" "$2" "contended/100k" "$(per100k "$contentions")"
  record "$1" "$2" "TP items/100k" "$(per100k "$work_items")"
  record "$1" "$2" "TP queue max" "$queue"
  record "$1" "$2" "alloc B/tx" "$(awk -v a="$allocated" -v n="$txs" 'BEGIN { printf "%.0f", (n > 0 ? a / n : 0) }')"
  record "$1" "$2" "gen0 GCs/100k" "$(per100k "$gen0")"
  record "$1" "$2" "gen1 GCs/100k" "$(per100k "$gen1")"
  record "$1" "$2" "gen2 GCs/100k" "$(per100k "$gen2")"
}

# pgbench_run POOLER ROW DB SECONDS EXTRA_ARGS...: tps, average and p99 latency, failed, pooler CPU per 100k, the
# pooler's context switches per transaction (per login with -C).
pgbench_run() {
  local pooler=$1 row=$2 db=$3 seconds=$4; shift 4
  wanted "$row" || return 0
  local out=$work/pgbench.out logs=$work/txlog
  rm -f "$logs".*
  local cpu_before; cpu_before=$(cpu_seconds "${pid_of[$pooler]}")
  local switches_before; switches_before=$(context_switches "${pid_of[$pooler]}")
  counters_start "$pooler" "$seconds"
  timeout $((seconds * 4 + 60)) "$pgbin/pgbench" -n -S -j 2 -T "$seconds" -h 127.0.0.1 -p "${port_of[$pooler]}" -U bench "$@" \
    -l --log-prefix="$logs" "$db" >"$out" 2>&1 || { say "pgbench failed against $pooler:"; cat "$out" >&2; }
  local cpu_after; cpu_after=$(cpu_seconds "${pid_of[$pooler]}")
  local switches_after; switches_after=$(context_switches "${pid_of[$pooler]}")
  local tps avg txs failed p99
  tps=$(awk '/^tps = / { print $3; exit }' "$out")
  avg=$(awk '/^latency average = / { print $4; exit }' "$out")
  txs=$(awk '/^number of transactions actually processed: / { print $6; exit }' "$out")
  failed=$(awk '/^number of failed transactions: / { print $5; exit }' "$out")
  p99=$(cat "$logs".* | awk '{ print $3 }' | sort -n | awk '{ v[NR] = $1 } END { i = int(NR * 0.99); if (i < 1) i = 1; printf "%.3f", v[i] / 1000 }')
  record "$pooler" "$row" tps "${tps:-0}"
  record "$pooler" "$row" "avg ms" "${avg:-0}"
  record "$pooler" "$row" "p99 ms" "$p99"
  record "$pooler" "$row" failed "${failed:-${txs:+0}}"
  record "$pooler" "$row" "CPU s/100k tx" "$(awk -v a="$cpu_before" -v b="$cpu_after" -v n="${txs:-0}" 'BEGIN { printf "%.2f", (n > 0 ? (b - a) / n * 100000 : 0) }')"
  record "$pooler" "$row" "switches/tx" "$(awk -v a="$switches_before" -v b="$switches_after" -v n="${txs:-0}" 'BEGIN { printf "%.2f", (n > 0 ? (b - a) / n : 0) }')"
  counters_record "$pooler" "$row" "${tps:-0}"
  say "$row, $pooler: tps ${tps:-?}, p99 ${p99} ms, failed ${failed:-?}"
}

idle_run() {
  local pooler=$1 row="$idle_clients idle clients"
  wanted "$row" || return 0
  local ready=$work/idle.ready json=$work/idle.json
  rm -f "$ready" "$json"
  local before; before=$(rss_kb "${pid_of[$pooler]}")
  "$load_exe" idle --quiet --connections "$idle_clients" --parallel-opens 64 --hold 5 --ready-file "$ready" --json "$json" \
    -c "Host=127.0.0.1;Port=${port_of[$pooler]};Username=bench;Password=bench;Database=bench_tx;Timeout=120;SSL Mode=Disable" >"$work/idle.out" 2>&1 &
  local tester=$!
  while [ ! -f "$ready" ] && kill -0 "$tester" 2>/dev/null; do sleep 0.5; done
  sleep 2 # let the last logins settle
  local after; after=$(rss_kb "${pid_of[$pooler]}")
  wait "$tester" || true
  local answering; answering=$(awk -F': ' '/"connectionsAnswering"/ { gsub(/,/, "", $2); print $2 }' "$json" 2>/dev/null)
  record "$pooler" "$row" "RSS before MB" "$(awk -v k="$before" 'BEGIN { printf "%.1f", k / 1024 }')"
  record "$pooler" "$row" "RSS after MB" "$(awk -v k="$after" 'BEGIN { printf "%.1f", k / 1024 }')"
  record "$pooler" "$row" "KB per client" "$(awk -v a="$before" -v b="$after" -v n="$idle_clients" 'BEGIN { printf "%.2f", (b - a) / n }')"
  record "$pooler" "$row" "answering" "${answering:-0}"
  say "$row, $pooler: RSS $before -> $after KB, ${answering:-0} answering"
}

# Both poolers run every kind of traffic the rows measure before anything is measured. PgBouncer
# needs none of it; PgBouncerActors does: .NET compiles a method quickly first and again, with what
# the first version saw (tiered PGO), once it is hot. Measured with 10 clients in transaction mode,
# its pooler CPU per transaction fell from 62 to 41 to 36 microseconds over three 8-second runs
# straight after a start, and the compiler thread alone took 12 of those first 62. A pooler runs for
# days, so the rows measure it as operators see it, after that settling.
warmup=${BENCH_WARMUP:-30}
say "warming up both poolers (${warmup} s each)"
for pooler in $poolers; do
  for traffic in "bench_tx -M simple" "bench_tx -M extended" "bench_session -M prepared" "bench_tx -C -M simple" "tls bench_tx -C -M simple"; do
    sslmode=disable; if [[ $traffic == tls* ]]; then sslmode=require; traffic=${traffic#tls }; fi
    # shellcheck disable=SC2086 # the database and pgbench options, split on purpose
    PGSSLMODE=$sslmode "$pgbin/pgbench" -n -S -c 10 -j 2 -T "$((warmup / 5 > 0 ? warmup / 5 : 1))" -h 127.0.0.1 -p "${port_of[$pooler]}" -U bench \
      ${traffic#* } "${traffic%% *}" >/dev/null 2>&1 || true
  done
done

# A pooler with no client at all (its pools warm from the warm-up): the CPU it burns anyway, which a
# pooler beside every application instance pays all day. All poolers are measured over the same quiet
# seconds, after a settling pause (the last pooler warmed up is still compiling what the warm-up made hot).
quiet_row="no clients (CPU while idle)"
if wanted "$quiet_row"; then
  sleep "${BENCH_QUIET_SETTLE:-15}"
  declare -A quiet_before
  for pooler in $poolers; do quiet_before[$pooler]=$(cpu_seconds "${pid_of[$pooler]}"); done
  quiet_seconds=${BENCH_QUIET_SECONDS:-20}
  sleep "$quiet_seconds"
  for pooler in $poolers; do
    record "$pooler" "$quiet_row" "CPU ms per s" "$(awk -v a="${quiet_before[$pooler]}" -v b="$(cpu_seconds "${pid_of[$pooler]}")" -v s="$quiet_seconds" \
      'BEGIN { printf "%.2f", (b - a) * 1000 / s }')"
  done
  say "$quiet_row: measured over ${quiet_seconds} s"
fi

# Idle clients first, while neither pooler has yet held more than the warm-up's ten clients.
for pooler in $poolers; do idle_run "$pooler"; done

for round in $(seq 1 "$rounds"); do
  say "round $round of $rounds"
  for pooler in $poolers; do
    pgbench_run "$pooler" "-S 10 clients simple (transaction)" bench_tx "$run_seconds" -c 10 -M simple
    # The same with the pooler held to one core (PgBouncer uses one anyway): what the other core buys PgBouncerActors.
    pin "${pid_of[$pooler]}" 0
    pgbench_run "$pooler" "-S 10 clients simple, pooler on 1 core" bench_tx "$run_seconds" -c 10 -M simple
    pin "${pid_of[$pooler]}" "0-$(($(nproc) - 1))"
    pgbench_run "$pooler" "-S 10 clients extended (transaction)" bench_tx "$run_seconds" -c 10 -M extended
    pgbench_run "$pooler" "-S 10 clients prepared (session)" bench_session "$run_seconds" -c 10 -M prepared
    PGSSLMODE=require pgbench_run "$pooler" "-S 10 clients TLS (transaction)" bench_tx "$run_seconds" -c 10 -M simple
    # PgBouncer 1.18 (Debian's) has no prepared statements in transaction mode (1.21 added them).
    if [ "$pooler" != bouncer118 ]; then
      pgbench_run "$pooler" "-S 10 clients prepared (transaction)" bench_tx "$run_seconds" -c 10 -M prepared
    fi
    # More clients than server connections: transactions wait their turn at the pool.
    pgbench_run "$pooler" "-S 100 clients, pool 20 (transaction)" bench_tx "$run_seconds" -c 100 -M simple
    # pgbench's clock runs while its 1000 clients log in (SCRAM, a few seconds): 10 s more for them.
    pgbench_run "$pooler" "-S 1000 clients, pool 20 (transaction)" bench_tx "$((run_seconds + 10))" -c 1000 -M simple
    pgbench_run "$pooler" "-S -C 10 clients, SCRAM (transaction)" bench_tx "$run_seconds" -c 10 -C -M simple
    PGSSLMODE=require pgbench_run "$pooler" "-S -C 10 clients TLS, SCRAM (transaction)" bench_tx "$run_seconds" -c 10 -C -M simple
  done
done

# --- the table -----------------------------------------------------------------------------------
# Mean over rounds per (pooler, row, metric); ratio = PgBouncerActors / PgBouncer.
awk -F'\t' '
  { key = $2 SUBSEP $3; sum[$1, key] += $4; n[$1, key]++; if (!(key in seen)) { seen[key] = 1; order[++rows] = key } }
  END {
    line = "+--------------------------------------------+----------------+------------+------------+------------+-----------------+--------+"
    print line
    printf "| %-42s | %-14s | %10s | %10s | %10s | %15s | %6s |\n", "scenario", "metric", "PgB 1.25.2", "PgB 1.18", "before", "PgBouncerActors", "ratio"
    print line
    for (r = 1; r <= rows; r++) {
      split(order[r], part, SUBSEP)
      b = n["bouncer", order[r]] ? sum["bouncer", order[r]] / n["bouncer", order[r]] : 0
      o = n["bouncer118", order[r]] ? sprintf("%10.2f", sum["bouncer118", order[r]] / n["bouncer118", order[r]]) : sprintf("%10s", "-")
      w = n["before", order[r]] ? sprintf("%10.2f", sum["before", order[r]] / n["before", order[r]]) : sprintf("%10s", "-")
      a = n["actors", order[r]] ? sum["actors", order[r]] / n["actors", order[r]] : 0
      ratio = b != 0 ? sprintf("%.2f", a / b) : "-"
      printf "| %-42s | %-14s | %10.2f | %s | %s | %15.2f | %6s |\n", (part[1] == last ? "" : part[1]), part[2], b, o, w, a, ratio
      last = part[1]
    }
    print line
  }' "$results"
printf 'ratio: PgBouncerActors / PgBouncer 1.25.2. tps, answering: higher is better; latency, CPU, failed, memory: lower is better.\nEach pgbench run %ss, mean of %s rounds.\n' "$run_seconds" "$rounds"

# Prepared statements in transaction mode against PgBouncerActors' own rows (PgBouncer has no such row).
awk -F'\t' '
  $1 == "actors" { sum[$2, $3] += $4; n[$2, $3]++ }
  function mean(row, metric) { return n[row, metric] ? sum[row, metric] / n[row, metric] : 0 }
  END {
    p = "-S 10 clients prepared (transaction)"; e = "-S 10 clients extended (transaction)"; s = "-S 10 clients prepared (session)"
    if (!n[p, "tps"]) exit
    for (i = 1; i <= 2; i++) {
      other = i == 1 ? e : s
      if (mean(other, "tps") > 0 && mean(other, "CPU s/100k tx") > 0)
        printf "prepared (transaction) / %s: tps %.2f, pooler CPU per transaction %.2f\n", substr(other, 15), mean(p, "tps") / mean(other, "tps"),
          mean(p, "CPU s/100k tx") / mean(other, "CPU s/100k tx")
    }
  }' "$results"
