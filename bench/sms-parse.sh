#!/usr/bin/env bash
# Benchmark: SMS parse throughput over the corpus (sms-gateway/tests/corpus.tsv), against the
# core's code decoder on the same texts as a baseline measured in the same run.
#
#   bash bench/sms-parse.sh [SECONDS_PER_ROW]     (default 2)
#
# Prints a Markdown table: messages/s and µs per message, per kind of message.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --release -q -p zhenwei-bench --bin sms_parse -- "${1:-2}"
