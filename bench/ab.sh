#!/usr/bin/env bash
# Alternated A/B of two zhenwei binaries on the same verify load, for a change on the hot path.
#
#   bash bench/ab.sh BIN_A BIN_B [SET] [SECONDS] [CONNECTIONS] [ROUNDS]
#   BENCH_DB=postgres bash bench/ab.sh …          (a PostgreSQL cluster of the run's own)
#
# SET: hot (10^4 codes cycled), cold (10^6 distinct of 10^7 issued), or na (10^5 codes of a range
# never activated: every query opens a case, with two offices down). Defaults: hot, 8 s, 32
# connections, 2 rounds. The data is made once (by BIN_A); before every measurement the database
# is put back as it was (SQLite: the data directory copied afresh; PostgreSQL: dropped and
# restored from a dump), the binary serves it, wrk warms up for 2 s and then measures.
#
# This VM's speed drifts by tens of percent within minutes, so A and B run in turns (A B A B …)
# and each row is comparable only with its neighbours. Prints one Markdown row per measurement:
# requests/s, p50/p99, CPU per request of zhenwei's threads (/proc/PID/task/*/stat) and of all
# PostgreSQL processes, and the recorder's mean batch size (from /metrics).
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 2 ] || { sed -n 2,16p "$0" >&2; exit 2; }
A=$(realpath "$1") B=$(realpath "$2")
SET=${3:-hot} SECS=${4:-8} CONNS=${5:-32} ROUNDS=${6:-2}
case "$SET" in hot | cold | na) ;; *) echo "SET must be hot, cold or na" >&2; exit 2 ;; esac
if ! command -v wrk >/dev/null; then
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq wrk >/dev/null; else sudo apt-get install -y -qq wrk >/dev/null; fi
fi
work=$(mktemp -d /tmp/zw-ab-bench.XXXXXX)
pids=()
pg_stop=
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true
  [ -n "$pg_stop" ] && $pg_stop >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT

Z=$A
. bench/verify-data.sh
start_database
make_codes
[ "$SET" = na ] && make_unactivated
write_lua
case "$BACKEND" in
  sqlite) cp -r "$D" "$work/pristine" ;;
  postgres) pg_dump -Fc -d "$ZHENWEI_DATABASE_URL" -f "$work/pristine.dump" ;;
esac
restore() {
  case "$BACKEND" in
    sqlite) rm -rf "$D"; cp -r "$work/pristine" "$D" ;;
    postgres)
      psql -q "$ZHENWEI_DATABASE_URL" -c "DROP SCHEMA public CASCADE; CREATE SCHEMA public;" >/dev/null 2>&1
      pg_restore -d "$ZHENWEI_DATABASE_URL" "$work/pristine.dump"
      psql -q "$ZHENWEI_DATABASE_URL" -c "VACUUM ANALYZE" >/dev/null
      ;;
  esac
}
# "zhenwei-ticks postgres-ticks" (CPU time in clock ticks) of server $1 and every postgres process.
cpu_ticks() {
  local zw=0 pg=0 t
  for t in /proc/"$1"/task/*/stat; do zw=$((zw + $(awk '{print $14 + $15}' "$t" 2>/dev/null || echo 0))); done
  for t in $(pgrep -x postgres 2>/dev/null || true); do pg=$((pg + $(awk '{print $14 + $15}' /proc/"$t"/stat 2>/dev/null || echo 0))); done
  echo "$zw $pg"
}
HZ=$(getconf CLK_TCK)

echo "$BACKEND, set $SET, wrk -t1 -c$CONNS -d${SECS}s after a 2 s warm-up; A = $A, B = $B"
echo
echo "| round | binary | requests/s | p50 ms | p99 ms | errors | zhenwei µs/request | PostgreSQL µs/request | queries/batch |"
echo "|---|---|---|---|---|---|---|---|---|"
for round in $(seq 1 "$ROUNDS"); do
  for side in A B; do
    bin=$A; [ $side = B ] && bin=$B
    restore
    port=$(free_port)
    "$bin" --data-dir "$D" serve --http 127.0.0.1:$port --https off --sip off --sip-tls off 2>"$work/serve.log" &
    sp=$!; pids+=($sp)
    for _ in $(seq 400); do grep -q "zhenwei serving" "$work/serve.log" && break; sleep 0.05; done
    url=http://127.0.0.1:$port
    warm_up "$url" "$work/verify.lua" "$work/$SET.txt"
    read -r zw0 pg0 <<<"$(cpu_ticks $sp)"
    read -r rps p50 p99 errs <<<"$(run_wrk "$url" "$work/verify.lua" "$work/$SET.txt")"
    read -r zw1 pg1 <<<"$(cpu_ticks $sp)"
    batch=$(curl -s "$url/metrics" | awk '/^zhenwei_recorder_batch_size_sum/ {s=$2} /^zhenwei_recorder_batch_size_count/ {c=$2} END {if (c) printf "%.1f", s / c}')
    kill $sp; wait $sp 2>/dev/null || true
    python3 -c "
n = $rps * $SECS
us = lambda t: f'{t * 1e6 / $HZ / n:.1f}' if n else '-'
pg = us($pg1 - $pg0) if '$BACKEND' == 'postgres' else '-'
print(f'| $round | $side | {$rps:,} | $p50 | $p99 | $errs | {us($zw1 - $zw0)} | {pg} | $batch |')"
  done
done
