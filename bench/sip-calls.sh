#!/usr/bin/env bash
# Benchmark: SIP call setups per second over loopback UDP, zhenwei against a stateless ceiling.
#
#   bash bench/sip-calls.sh [SECONDS] [CALLERS]     (defaults: 10 s per measurement, 50 callers)
#
# The load client (bench/src/bin/sip_load.rs) runs CALLERS concurrent callers; each places calls
# back to back: INVITE with a G.711 offer → 200 (after 100 and 180) → ACK → BYE → 200.
# 1. ceiling: a stateless responder that answers INVITE and BYE with 200 at once (same parser);
# 2. zhenwei: `zhenwei serve --sip`, the real user agent (transactions, dialogs, timers) with the
#    stand-in call handler.
# Prints a Markdown table: call setups/s, setup latency p50/p99, failures, ratio to the ceiling.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-10}
CALLERS=${2:-50}
cargo build --release -q -p zhenwei-server -p zhenwei-bench
T=${CARGO_TARGET_DIR:-$PWD/target}/release
work=$(mktemp -d /tmp/zw-sip-bench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

cport=$(free_port)
"$T/sip-load" ceiling "127.0.0.1:$cport" > "$work/ceiling.log" 2>&1 & pids+=($!)
sport=$(free_port)
"$T/zhenwei" --data-dir "$work/data" serve --http 127.0.0.1:0 --https off --sip "127.0.0.1:$sport" --sip-tls off > "$work/zhenwei.log" 2>&1 & pids+=($!)
for _ in $(seq 1 100); do grep -q "zhenwei serving" "$work/zhenwei.log" && grep -q "listening" "$work/ceiling.log" && break; sleep 0.1; done
grep -q "zhenwei serving" "$work/zhenwei.log" || { cat "$work/zhenwei.log"; exit 1; }

"$T/sip-load" call "127.0.0.1:$cport" 2 "$CALLERS" >/dev/null   # warm-up
c=$("$T/sip-load" call "127.0.0.1:$cport" "$SECS" "$CALLERS")
"$T/sip-load" call "127.0.0.1:$sport" 2 "$CALLERS" >/dev/null   # warm-up
z=$("$T/sip-load" call "127.0.0.1:$sport" "$SECS" "$CALLERS")
field() { echo "$1" | tr ' ' '\n' | grep "^$2=" | cut -d= -f2; }
echo "| target | call setups/s | setup p50 | setup p99 | failed | ratio to ceiling |"
echo "|---|---|---|---|---|---|"
echo "| ceiling (stateless 200) | $(field "$c" rate) | $(field "$c" p50_ms) ms | $(field "$c" p99_ms) ms | $(field "$c" failed) | 1.00 |"
ratio=$(python3 -c "print(f'{$(field "$z" rate)/max($(field "$c" rate),1):.2f}')")
echo "| zhenwei serve --sip | $(field "$z" rate) | $(field "$z" p50_ms) ms | $(field "$z" p99_ms) ms | $(field "$z" failed) | $ratio |"
echo
echo "$CALLERS callers, $SECS s per measurement, loopback UDP, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
