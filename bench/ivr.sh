#!/usr/bin/env bash
# Benchmark: concurrent IVR calls streaming prompts — RTP pacing jitter and server CPU per call,
# and the call setup rate — with our own load client over loopback.
#
#   bash bench/ivr.sh [HOLD_SECONDS] [CALLS…]        (defaults: 10 s; 100 500 1000 calls)
#
# The server is `ivr-load server`: the real zhenwei-ivr SIP user agent and call handler (SDP
# offer/answer, one RTP socket per call, one media clock thread pacing them all, in-band and RFC 4733 DTMF
# detectors listening, the menu playing its prompts), without a database (no call reaches a
# verdict). The client (`ivr-load client`) sets up the calls (INVITE/200/ACK, 64 in flight),
# then records every RTP packet's arrival on every call for HOLD seconds and hangs up.
# Jitter is |arrival interval − 20 ms| over consecutive packets, measured twice at the client:
# from the kernel's receive timestamp of each datagram (SO_TIMESTAMPNS — the server's pacing as
# it reached the socket) and when the client's task read it (adds the client's own scheduling
# delay on the same machine: an upper bound).
# CPU is the server process's user+system time during the hold window.
# Baseline: in the same run, the client's own idle 20 ms tokio interval — its jitter is the
# machine's scheduling noise at that moment, included in every jitter figure of the row.
# The server paces every call from one media clock thread (ivr/src/call/clock.rs).
set -euo pipefail
cd "$(dirname "$0")/.."
HOLD=${1:-10}
shift || true
CALLS=("$@")
[ ${#CALLS[@]} -gt 0 ] || CALLS=(100 500 1000)
cargo build --release -q -p zhenwei-bench --bin ivr-load
BIN=${CARGO_TARGET_DIR:-target}/release/ivr-load
work=$(mktemp -d /tmp/zw-ivr-bench.XXXXXX)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
echo "| calls | streamed | setups | RTP packets received / expected | seq gaps | jitter at the socket (kernel stamp) p50 / p99 / max ms | jitter at the client task p50 / p99 / max ms | baseline (idle interval) p50 / p99 ms | server CPU (hold window) |"
echo "|---|---|---|---|---|---|---|---|---|"
for n in "${CALLS[@]}"; do
  "$BIN" server 127.0.0.1:0 >"$work/server.out" 2>"$work/server.err" &
  pid=$!
  for _ in $(seq 100); do grep -q listening "$work/server.out" 2>/dev/null && break; sleep 0.1; done
  addr=$(awk '/listening/ {print $2}' "$work/server.out")
  "$BIN" client --target "$addr" --calls "$n" --hold "$HOLD" --server-pid "$pid"
  kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true; pid=""
done
echo
echo "machine: $(nproc) cores, load average before the run: $(cut -d' ' -f1-3 /proc/loadavg)"
