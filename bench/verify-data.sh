# Sourced by bench/verify.sh and bench/ab.sh (not run on its own): the database a verify
# benchmark runs on and the codes it queries. Expects $Z (the zhenwei binary) and $work (a
# scratch directory the caller removes); sets $D (the data directory), $BACKEND and, on
# PostgreSQL, ZHENWEI_DATABASE_URL and $pg_stop (the caller runs it on exit).

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# The embedded SQLite file, or a PostgreSQL cluster of this run's own (Debian's postgresql;
# fsync and synchronous_commit on, as in production).
start_database() {
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
}

# One product, 10 ranges x 10^6 codes = 10^7 issued and activated codes; $work/hot.txt (10^4
# of them) and $work/cold.txt (10^6, shuffled).
make_codes() {
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
}

# An 11th range of 10^6 codes issued and never activated, 10^5 of them in $work/na.txt (every
# query of one is `suspect: not_activated` and opens a case), and a national and a provincial
# office at a closed port (their deliveries fail and are retried: offices that are down).
make_unactivated() {
  $Z --data-dir "$D" range request --gtin $GTIN --size 1000000 >/dev/null
  $Z --data-dir "$D" range export 11 --from 0 --to 100000 | tail -n +2 | cut -d, -f2 > "$work/na.txt"
  $Z --data-dir "$D" regulator set --prefix national --name 国家 --url https://127.0.0.1:9/cases >/dev/null
  $Z --data-dir "$D" regulator set --prefix 35 --name 福建 --url https://127.0.0.1:9/fj >/dev/null
}

# $work/verify.lua (POST /v1/verify cycling over the codes of the file given as its argument) and
# $work/ceiling.lua (the bare server); both end with the summary line run_wrk parses.
write_lua() {
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
}

# url script [script-arg]: 2 s of load, not measured.
warm_up() {
  wrk -t1 -c"$CONNS" -d2s -s "$2" "$1" -- ${3:-} >/dev/null 2>&1 || true
}

# url script [script-arg] -> "requests/s p50 p99 errors" over $SECS s at $CONNS connections.
run_wrk() {
  wrk -t1 -c"$CONNS" -d"${SECS}s" --latency -s "$2" "$1" -- ${3:-} \
    | awk '/^RESULT/ {printf "%.0f %s %s %d\n", $2 / ($3 / 1e6), $4, $5, $6 + $7}'
}

measure() { warm_up "$@"; run_wrk "$@"; }
