#!/usr/bin/env bash
# Benchmark: POST /v1/verify throughput and latency against a bare-hyper ceiling, one machine,
# one run, one load generator (wrk, installed if missing).
#
#   bash bench/verify.sh [SECONDS] [CONNECTIONS]     (defaults: 10 s per measurement, 32)
#   BENCH_DB=postgres bash bench/verify.sh …         (the same on a PostgreSQL server)
#
# 1. ceiling: a bare hyper server answering a JSON body as large as a real verdict;
# 2. hot:  POST /v1/verify cycling over 10^4 codes (catalog-cache hits; every query is still
#          recorded durably before it is answered);
# 3. cold: the same over 10^6 distinct codes, with 10^7 issued codes in the database.
# zhenwei runs on the embedded SQLite (WAL, synchronous=FULL), or with BENCH_DB=postgres on a
# PostgreSQL cluster the script starts on this machine (Debian's postgresql; fsync and
# synchronous_commit on, as in production) and stops afterwards. wrk uses one thread; on a 2-core
# machine that leaves about one core to the server under test, the same for all three.
# Prints a Markdown table: requests/s, p50 and p99 latency, ratio to the ceiling (measured again
# after each zhenwei measurement; each ratio is against the ceilings on both sides of it).
set -euo pipefail
[ -n "${BENCH_TRACE:-}" ] && set -x
cd "$(dirname "$0")/.."
SECS=${1:-10}
CONNS=${2:-32}
if ! command -v wrk >/dev/null; then
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq wrk >/dev/null; else sudo apt-get install -y -qq wrk >/dev/null; fi
fi
cargo build --release -q -p zhenwei-server -p zhenwei-bench
Z=$PWD/target/release/zhenwei
work=$(mktemp -d /tmp/zw-verify-bench.XXXXXX)
pids=()
pg_stop=
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true
  [ -n "$pg_stop" ] && $pg_stop >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# --- the database: the embedded SQLite file, or a PostgreSQL cluster of this run's own --------
BACKEND=${BENCH_DB:-sqlite}
case "$BACKEND" in
  sqlite) count_events() { python3 -c "import sqlite3; print(sqlite3.connect('$1/zhenwei.db').execute('select count(*) from query_events').fetchone()[0])"; } ;;
  postgres)
    bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    if [ ! -x "$bindir/initdb" ]; then
      if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq postgresql >/dev/null; else sudo apt-get install -y -qq postgresql >/dev/null; fi
      bindir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
    fi
    as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
    pgdir="$work/pg"; mkdir -p "$pgdir"; [ "$(id -u)" = 0 ] && chown postgres: "$work" "$pgdir"
    pgport=$(free_port)
    as_pg "$bindir/initdb" -D "$pgdir/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
    as_pg "$bindir/pg_ctl" -D "$pgdir/data" -l "$pgdir/server.log" -w -t 60 -o "-c listen_addresses=127.0.0.1 \
      -p $pgport -k $pgdir -c fsync=on -c synchronous_commit=on -c shared_buffers=1GB -c max_connections=200" start >/dev/null
    pg_stop="as_pg $bindir/pg_ctl -D $pgdir/data -m fast stop"
    export ZHENWEI_DATABASE_URL="postgres://postgres@127.0.0.1:$pgport/postgres"
    count_events() { psql -qtA "$ZHENWEI_DATABASE_URL" -c 'select count(*) from query_events'; }
    ;;
  *) echo "BENCH_DB must be sqlite or postgres" >&2; exit 2 ;;
esac

# --- data: one product, 10 ranges x 10^6 codes = 10^7 issued and activated codes -------------
D="$work/data"
ENT=91350100M000100Y43 GTIN=6977777000011
$Z --data-dir "$D" enterprise add --credit-code $ENT --name 基准企业 --division 350102 >/dev/null
$Z --data-dir "$D" prefix add --credit-code $ENT --prefix 6977777 >/dev/null
$Z --data-dir "$D" product add --credit-code $ENT --gtin $GTIN --name 基准产品 >/dev/null
: > "$work/cold.txt"
for r in $(seq 1 10); do
  $Z --data-dir "$D" range request --gtin $GTIN --size 1000000 >/dev/null
  $Z --data-dir "$D" range activate "$r" --lot "B$r" --expiry 2030-01-01 >/dev/null
  $Z --data-dir "$D" range export "$r" --from 0 --to 100000 | tail -n +2 | cut -d, -f2 >> "$work/cold.txt"
done
head -n 10000 "$work/cold.txt" > "$work/hot.txt"
shuf --random-source=<(yes) "$work/cold.txt" -o "$work/cold.txt"
echo "issued: $((10 * 1000000)) codes in 10 ranges; hot set $(wc -l < "$work/hot.txt"), cold set $(wc -l < "$work/cold.txt")" >&2

# Both scripts end with the same summary line, which measure() parses.
cat > "$work/done.lua" <<'LUA'
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %d %.3f %.3f %d %d\n", summary.requests, summary.duration,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    e.connect + e.read + e.write + e.timeout, e.status))
end
LUA
cat > "$work/verify.lua" <<'LUA'
local codes, i = {}, 0
init = function(args)
  for line in io.lines(args[1]) do codes[#codes + 1] = line end
  i = 0
end
request = function()
  i = i % #codes + 1
  return wrk.format("POST", "/v1/verify", {["Content-Type"] = "application/json"},
    '{"code":"' .. codes[i] .. '"}')
end
LUA
cat "$work/done.lua" >> "$work/verify.lua"
cat > "$work/ceiling.lua" <<'LUA'
request = function()
  return wrk.format("POST", "/", {["Content-Type"] = "application/json"}, '{"code":"12345678901234567890"}')
end
LUA
cat "$work/done.lua" >> "$work/ceiling.lua"

measure() { # url script [script-arg] -> "rps p50 p99 errors"
  local url=$1 script=$2 arg=${3:-}
  wrk -t1 -c"$CONNS" -d2s -s "$script" "$url" -- $arg >/dev/null 2>&1 || true   # warm-up
  wrk -t1 -c"$CONNS" -d"${SECS}s" --latency -s "$script" "$url" -- $arg \
    | awk '/^RESULT/ {printf "%.0f %s %s %d\n", $2 / ($3 / 1e6), $4, $5, $6 + $7}'
}

# --- 1. ceiling ------------------------------------------------------------------------------
HP=$(free_port)
$Z --data-dir "$D" serve --http 127.0.0.1:$HP --https off 2>"$work/serve.log" & pids+=($!)
for _ in $(seq 200); do grep -q "zhenwei serving" "$work/serve.log" && break; sleep 0.05; done
SIZE=$(curl -s "http://127.0.0.1:$HP/v1/verify" -d "{\"code\":\"$(sed -n 10001p "$work/cold.txt")\"}" | wc -c)
CP=$(free_port)
target/release/ceiling 127.0.0.1:$CP "$SIZE" 2>/dev/null & pids+=($!)
for _ in $(seq 200); do curl -s -o /dev/null "http://127.0.0.1:$CP/" -d x && break; sleep 0.05; done
read -r c_rps c_p50 c_p99 c_err <<<"$(measure "http://127.0.0.1:$CP/" "$work/ceiling.lua")"

# --- 2. hot and 3. cold ----------------------------------------------------------------------
# The ceiling is measured again after each zhenwei measurement, and each ratio is taken against
# the mean of the ceilings just before and after it: this VM's speed drifts by tens of percent
# within an hour, and a ratio against a ceiling minutes away would carry that drift.
read -r h_rps h_p50 h_p99 h_err <<<"$(measure "http://127.0.0.1:$HP" "$work/verify.lua" "$work/hot.txt")"
read -r c2_rps _ <<<"$(measure "http://127.0.0.1:$CP/" "$work/ceiling.lua")"
read -r k_rps k_p50 k_p99 k_err <<<"$(measure "http://127.0.0.1:$HP" "$work/verify.lua" "$work/cold.txt")"
read -r c3_rps _ <<<"$(measure "http://127.0.0.1:$CP/" "$work/ceiling.lua")"
curl -s "http://127.0.0.1:$HP/metrics" > "$work/metrics.txt" || true
events=$(count_events "$D")

python3 - "$c_rps" "$c_p50" "$c_p99" "$c_err" "$h_rps" "$h_p50" "$h_p99" "$h_err" "$k_rps" "$k_p50" "$k_p99" "$k_err" "$SIZE" "$SECS" "$CONNS" "$events" "$BACKEND" "$c2_rps" "$c3_rps" <<'PY'
import sys
a = sys.argv[1:]
c, h, k = [a[i:i + 4] for i in (0, 4, 8)]
size, secs, conns, events, backend = a[12:17]
c1, c2, c3 = float(c[0]), float(a[17]), float(a[18])
print(f"{backend}: wrk -t1 -c{conns} -d{secs}s, response body {size} bytes, {events} query events recorded durably")
print(f"ceiling before hot, between, after cold: {c1:,.0f} / {c2:,.0f} / {c3:,.0f} requests/s")
print()
print("| measurement | requests/s | p50 ms | p99 ms | errors | ratio to ceiling |")
print("|---|---|---|---|---|---|")
for name, r, base in [("1. ceiling: bare hyper, same body size", c, c1),
                      ("2. hot: 10^4 codes, cache hits", h, (c1 + c2) / 2),
                      ("3. cold: 10^6 distinct codes, 10^7 issued", k, (c2 + c3) / 2)]:
    ratio = float(r[0]) / base if base else 0
    print(f"| {name} | {int(float(r[0])):,} | {r[1]} | {r[2]} | {r[3]} | {ratio:.2f} |")
print()
print("Ratios: hot against the mean of the ceilings before and after it, cold likewise.")
PY
if [ -s "$work/metrics.txt" ]; then
  echo; echo "recorder batches (from /metrics):"; grep -E "^zhenwei_(recorder|catalog)" "$work/metrics.txt" | head -20 || true
fi
