#!/usr/bin/env bash
# The CPU budget of a verify at half the ceiling, against the least a durable query record costs.
#
#   bash bench/write-floor.sh [SECONDS] [CONNECTIONS]     (defaults: 5 s, 32)
#
# 1. The ceiling of bench/verify.sh (bare hyper, wrk one thread): requests/s, and the CPU per
#    request of the load generator and of the server, from their own user+system times.
# 2. The write floor (src/bin/write_floor.rs): one counter upsert and one event insert per query,
#    group-committed on zhenwei's schema and settings — no HTTP, no rules, no cases — with
#    synchronous=FULL (durable) and OFF, at batches of 14, 32 and 64.
# Prints both tables and the budget: at 0.5 x the ceiling on this machine's cores, the CPU left per
# request for verification and recording once wrk and bare hyper have had theirs.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-5}
CONNS=${2:-32}
if ! command -v wrk >/dev/null; then
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq wrk >/dev/null; else sudo apt-get install -y -qq wrk >/dev/null; fi
fi
cargo build --release -q -p zhenwei-bench
work=$(mktemp -d /tmp/zw-floor-bench.XXXXXX)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
target/release/ceiling "127.0.0.1:$port" 720 & pid=$!
for _ in $(seq 100); do curl -s -o /dev/null -d x "http://127.0.0.1:$port/" && break; sleep 0.05; done
cat > "$work/ceiling.lua" <<'LUA'
request = function()
  return wrk.format("POST", "/", {["Content-Type"] = "application/json"}, '{"code":"12345678901234567890"}')
end
done = function(summary, latency, requests)
  io.write(string.format("RESULT %d %d\n", summary.requests, summary.duration))
end
LUA
ticks=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
wrk -t1 -c"$CONNS" -d2s -s "$work/ceiling.lua" "http://127.0.0.1:$port/" >/dev/null   # warm-up
before=$(cpu "$pid")
/usr/bin/time -f "WRKCPU %U %S" -o "$work/wrk.time" \
  wrk -t1 -c"$CONNS" -d"${SECS}s" -s "$work/ceiling.lua" "http://127.0.0.1:$port/" > "$work/wrk.out"
after=$(cpu "$pid")
read -r _ n dur < <(grep RESULT "$work/wrk.out")
read -r _ wu ws < "$work/wrk.time"
python3 - "$n" "$dur" "$before" "$after" "$ticks" "$wu" "$ws" "$(nproc)" > "$work/budget" <<'PY'
import sys
n, dur, b, a, ticks, wu, ws, cores = sys.argv[1:]
n = int(n); rps = n / (int(dur) / 1e6)
server = (float(a) - float(b)) / int(ticks) * 1e6 / n
load = (float(wu) + float(ws)) * 1e6 / n
half = 0.5 * rps
budget = int(cores) * 1e6 / half
print(f"| ceiling req/s | wrk CPU µs/req | bare-hyper CPU µs/req | cores | at 0.5 × ceiling: CPU µs/req on all cores | left for verify + recording |")
print(f"|---|---|---|---|---|---|")
print(f"| {rps:,.0f} | {load:.1f} | {server:.1f} | {cores} | {budget:.1f} | **{budget - load - server:.1f}** |")
PY
kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
cat "$work/budget"
echo
target/release/write-floor "$work/floor" "$SECS" 14 32 64
