#!/usr/bin/env bash
# Benchmark: upload 1 000 000 GS1 serials into the embedded SQLite database.
#
#   bash bench/upload-serials.sh [N]        (default N = 1000000)
#
# zhenwei: `zhenwei serials upload` through the CLI (validation, batch upsert, multi-row INSERT …
# ON CONFLICT DO NOTHING, audit entry, one transaction, WAL + synchronous=FULL).
# Baseline, same run, same machine: Python's sqlite3 module inserting the same N rows with
# executemany into the same `serials` table and index in one transaction (WAL + FULL) — the
# floor for "insert N rows into SQLite". Each side runs 3 times on a fresh database; the median
# is reported, and the ratio zhenwei/baseline. Prints a Markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000000}
cargo build --release -q -p zhenwei-server
Z=target/release/zhenwei
work=$(mktemp -d /tmp/zw-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
python3 - "$N" > "$work/serials.txt" <<'PY'
import sys
n = int(sys.argv[1])
sys.stdout.write("".join(f"SN{i:010d}\n" for i in range(n)))
PY
ENT=91350100M000100Y43
GTIN=6977777000011

run_zhenwei() {
  local d="$work/z$1"
  $Z --data-dir "$d" enterprise add --credit-code $ENT --name Bench --division 350102 >/dev/null
  $Z --data-dir "$d" prefix add --credit-code $ENT --prefix 6977777 >/dev/null
  $Z --data-dir "$d" product add --credit-code $ENT --gtin $GTIN --name Bench >/dev/null
  local t0 t1
  t0=$(date +%s.%N)
  $Z --data-dir "$d" serials upload --gtin $GTIN --lot L1 --expiry 2030-01-01 "$work/serials.txt" >/dev/null
  t1=$(date +%s.%N)
  python3 -c "print($t1 - $t0)"
}

run_baseline() {
  python3 - "$work/b$1.db" "$work/serials.txt" <<'PY'
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("PRAGMA journal_mode=WAL"); db.execute("PRAGMA synchronous=FULL")
db.execute("""CREATE TABLE serials (id INTEGER PRIMARY KEY AUTOINCREMENT, product_id INTEGER NOT NULL,
  serial TEXT NOT NULL, batch_id INTEGER, state TEXT NOT NULL CHECK (state IN ('active','cancelled')),
  uploaded_at INTEGER NOT NULL, UNIQUE (product_id, serial))""")
t0 = time.time()
rows = [(1, line.strip(), 1, 'active', 0) for line in open(sys.argv[2]) if line.strip()]
db.execute("BEGIN")
db.executemany("INSERT INTO serials (product_id, serial, batch_id, state, uploaded_at) VALUES (?,?,?,?,?) ON CONFLICT DO NOTHING", rows)
db.execute("COMMIT")
print(time.time() - t0)
PY
}

median() { sort -g | sed -n 2p; }
z=$(for i in 1 2 3; do run_zhenwei $i; done | median)
b=$(for i in 1 2 3; do run_baseline $i; done | median)
rows=$(python3 -c "import sqlite3; print(sqlite3.connect('$work/z1/zhenwei.db').execute('select count(*) from serials').fetchone()[0])")
[ "$rows" = "$N" ] || { echo "expected $N rows, found $rows" >&2; exit 1; }
python3 - "$N" "$z" "$b" <<'PY'
import sys
n, z, b = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
print(f"| what | {n:,} serials, median of 3 | rows/s |")
print("|---|---|---|")
print(f"| `zhenwei serials upload` (SQLite) | {z:.2f} s | {n/z:,.0f} |")
print(f"| baseline: Python sqlite3 executemany, same table | {b:.2f} s | {n/b:,.0f} |")
print(f"| **ratio zhenwei / baseline** | **{z/b:.2f}** | |")
PY
