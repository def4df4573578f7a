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
# The database (SQLite, or BENCH_DB=postgres) and the 10^7 codes: shared with bench/ab.sh.
. bench/verify-data.sh
start_database
make_codes
echo "issued: $((10 * 1000000)) codes in 10 ranges; hot set $(wc -l < "$work/hot.txt"), cold set $(wc -l < "$work/cold.txt")" >&2

write_lua

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
