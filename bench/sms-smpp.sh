#!/usr/bin/env bash
# Benchmark: SMS over SMPP, MO → verified verdict → MT, throughput and latency.
#
#   bash bench/sms-smpp.sh [COUNT] [RATES]      (defaults: 20000 messages per row, "0,2000")
#
# bench/src/bin/smpp_load.rs plays the operator's SMSC: it accepts the ESME's bind and sends
# COUNT deliver_sm MOs per rate (0 = as fast as 256 outstanding MOs allow; otherwise paced), each
# from a distinct handset, carrying a demo code in full-width digits (UCS-2 in, Chinese UCS-2 reply
# out); it times each MO from writing the deliver_sm to reading the last submit_sm of its reply.
#   1. echo:    the gateway's ESME in-process with a handler that answers at once (no verification)
#               — the SMPP transport's ceiling on this machine;
#   2. zhenwei: `zhenwei serve --demo` with an [smpp] section; every MO is verified by the core and
#               recorded durably (SQLite, WAL, synchronous=FULL) before the reply is queued and the
#               MO acknowledged.
# Prints a Markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT=${1:-20000}
RATES=${2:-0,2000}
cargo build --release -q -p zhenwei-server -p zhenwei-bench
T=${CARGO_TARGET_DIR:-$PWD/target}/release
work=$(mktemp -d /tmp/zw-smpp-bench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

echo "machine: $(nproc) cores; load average before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
echo "| ESME | offered rate | MOs | replies | replies/s | p50 ms | p99 ms | max ms |"
echo "|---|---|---|---|---|---|---|---|"

# 1. Transport ceiling: echo handler.
"$T/smpp_load" --echo --label "echo (no verification)" --count "$COUNT" --rates "$RATES" \
  | grep -v '^LISTENING'

# 2. zhenwei serve.
mkfifo "$work/load.out"
"$T/smpp_load" --label "zhenwei serve" --count "$COUNT" --rates "$RATES" --codes "$work/codes.json" \
  > "$work/load.out" &
pids+=($!)
exec 3< "$work/load.out"
read -r _ port <&3
cat > "$work/zhenwei.toml" <<TOML
[smpp]
host = "127.0.0.1"
port = $port
system_id = "bench"
password = "bench"
window = 256
rate = 0
receipts = false
TOML
ZHENWEI_LOG=${ZHENWEI_LOG:-info} "$T/zhenwei" --data-dir "$work/data" --config "$work/zhenwei.toml" \
  serve --demo --http 127.0.0.1:0 --https off 2> "$work/serve.log" &
serve=$!
pids+=($serve)
# Wait for the server to be up (demo seeded, migrations done) before reading its codes.
until grep -q "zhenwei serving" "$work/serve.log"; do
  kill -0 "$serve" 2>/dev/null || { cat "$work/serve.log" >&2; exit 1; }
  sleep 0.1
done
"$T/zhenwei" --data-dir "$work/data" demo-codes > "$work/codes.tmp"
mv "$work/codes.tmp" "$work/codes.json"
while read -r line <&3; do echo "$line"; done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
