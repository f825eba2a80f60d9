#!/usr/bin/env bash
# Work per refresh counted in instructions: a figure that does not move with the machine's
# noise (valgrind's callgrind counts the same total for the same binary and input whatever
# else the machine does). See BENCHMARKS.md, "Instruction counts".
#
#   scripts/instructions.sh                 # build the benches here and count
#   LW_BENCH_BIN_DIR=DIR scripts/instructions.sh   # count prebuilt binaries in DIR
#                                                   # (keeper_throughput-*, gateway-*)
#
# env: LW_BENCH_ACCOUNTS (2000): accounts refreshed in the counted sweep;
#      LW_BENCH_CALLS (500): gateway calls per phase in the gateway count;
#      LW_INSTR_KEEP=DIR: keep the callgrind files in DIR;
#      LW_INSTR_POSTGRES=only: the PostgreSQL rows alone (no gateway binary needed);
#      LW_INSTR_POSTGRES=1: also count a sweep on PostgreSQL, the keeper's process and the
#      server's processes, on a private cluster started under callgrind (needs the
#      PostgreSQL server binaries: LW_PG_BIN, default /usr/lib/postgresql/15/bin, and a
#      `postgres` system user when run as root).
#
# Prints one table row per figure:
#   keeper (SQLite + AES): instructions per refreshed account, the whole process (keeper,
#                          sandbox server, SQLite thread), counted from the sweep's start;
#   bare client:           the same Graph refresh calls from a bare reqwest client,
#                          parsing the JSON, persisting nothing;
#   gateway run:           one whole `gateway` bench run (1 round) divided by its calls;
#   PostgreSQL (with LW_INSTR_POSTGRES=1): the keeper's process and the server's processes
#                          (every backend and helper, counted from the sweep's start).
set -euo pipefail
cd "$(dirname "$0")/.."

command -v valgrind >/dev/null || { echo "valgrind is needed (apt-get install valgrind)" >&2; exit 2; }
N="${LW_BENCH_ACCOUNTS:-2000}"
CALLS="${LW_BENCH_CALLS:-500}"

if [[ -z "${LW_BENCH_BIN_DIR:-}" ]]; then
  cargo bench --all-features --no-run --bench keeper_throughput --bench gateway >&2
  LW_BENCH_BIN_DIR=target/release/deps
fi
newest() { ls -t "$LW_BENCH_BIN_DIR"/"$1"-* 2>/dev/null | grep -v '\.d$' | head -1 || true; }
KT="$(newest keeper_throughput)"
GW="$(newest gateway)"
PG_ONLY=""; [[ "${LW_INSTR_POSTGRES:-}" == only ]] && PG_ONLY=1
[[ -x "$KT" && ( -n "$PG_ONLY" || -x "$GW" ) ]] || { echo "no bench binaries in $LW_BENCH_BIN_DIR" >&2; exit 2; }

as_pg() { if [[ "$(id -u)" == 0 ]]; then su postgres -s /bin/bash -c "$*"; else bash -c "$*"; fi; }

work="$(mktemp -d)"
# LW_INSTR_KEEP=DIR keeps the callgrind files there (for callgrind_annotate).
keep() { if [[ -n "${LW_INSTR_KEEP:-}" ]]; then mkdir -p "$LW_INSTR_KEEP"; find "$work" -name '*.cg' -exec cp {} "$LW_INSTR_KEEP"/ \; ; fi; rm -rf "$work"; }
trap keep EXIT

# Runs the throughput bench for one phase under callgrind, counting from its marker
# ("<phase> starts in 1 s (pid N)") to the end; prints the instructions counted.
count_phase() {
  local mode="$1" backend="${2:-sqlite}" out="$work/$1-${2:-sqlite}.cg"
  env "$mode=1" LW_BENCH_ACCOUNTS="$N" LW_BENCH_BACKENDS="$backend" \
    valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$out" "$KT" \
    >"$work/$1.stdout" 2>"$work/$1.stderr" &
  local vg=$!
  local pid=""
  for _ in $(seq 1 600); do
    pid="$(grep -o 'starts in 1 s (pid [0-9]*)' "$work/$1.stderr" 2>/dev/null | grep -o '[0-9]*' | tail -1 || true)"
    [[ -n "$pid" ]] && break
    sleep 0.5
  done
  [[ -n "$pid" ]] || { echo "no marker from the bench:" >&2; cat "$work/$1.stderr" >&2; kill "$vg"; exit 1; }
  callgrind_control -i on "$pid" >/dev/null 2>&1
  if [[ "$backend" == postgres ]]; then
    # The server's processes (a private cluster, run by its own user): every one.
    as_pg "callgrind_control -i on" >/dev/null 2>&1 || true
  fi
  wait "$vg"
  callgrind_annotate "$out" 2>/dev/null | awk '/PROGRAM TOTALS/ && !done {gsub(",", "", $1); print $1; done = 1}'
}

count_all() {
  local out="$work/gw.cg"
  LW_BENCH_CALLS="$CALLS" LW_BENCH_ROUNDS=1 \
    valgrind --tool=callgrind --callgrind-out-file="$out" "$GW" >"$work/gw.stdout" 2>"$work/gw.stderr"
  callgrind_annotate "$out" 2>/dev/null | awk '/PROGRAM TOTALS/ && !done {gsub(",", "", $1); print $1; done = 1}'
}

totals() {
  local sum=0 f n
  for f in "$@"; do
    n="$(callgrind_annotate "$f" 2>/dev/null | awk '/PROGRAM TOTALS/ && !done {gsub(",", "", $1); print $1; done = 1}')"
    [[ "$n" =~ ^[0-9]+$ ]] || n=0  # "." when nothing was counted
    sum=$(( sum + n ))
  done
  echo "$sum"
}

# A private PostgreSQL cluster under callgrind (instrumentation off until the sweep).
pg_keeper="" pg_server=""
if [[ -n "${LW_INSTR_POSTGRES:-}" ]]; then
  PG_BIN="${LW_PG_BIN:-/usr/lib/postgresql/15/bin}"
  chmod 755 "$work"
  pgdir="$work/pg"; mkdir -p "$pgdir"
  [[ "$(id -u)" == 0 ]] && chown postgres "$pgdir"
  as_pg "'$PG_BIN/initdb' -D '$pgdir/data' -A trust -U postgres >/dev/null"
  PGPORT="${LW_PG_PORT:-5599}"
  as_pg "valgrind --tool=callgrind --trace-children=yes --instr-atstart=no \
    --callgrind-out-file='$pgdir/server.%p.cg' '$PG_BIN/postgres' -D '$pgdir/data' \
    -p $PGPORT -k '$pgdir' -c listen_addresses=127.0.0.1 >'$pgdir/log' 2>&1" &
  for _ in $(seq 1 240); do
    "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PGPORT" && break
    sleep 0.5
  done
  "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PGPORT" || { echo "the PostgreSQL cluster did not start:" >&2; cat "$pgdir/log" >&2; exit 1; }
  pg_keeper="$(LIGHTWIDGET_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$PGPORT/postgres" count_phase LW_BENCH_KEEPER_ONLY postgres)"
  as_pg "'$PG_BIN/pg_ctl' -D '$pgdir/data' -m fast stop >/dev/null"
  wait || true
  pg_server="$(totals "$pgdir"/server.*.cg)"
fi

bare="$(count_phase LW_BENCH_BARE_ONLY)"
if [[ -n "$PG_ONLY" ]]; then
  echo "| figure | instructions | per unit |"
  echo "|---|---|---|"
  echo "| bare client, $N refreshes | $bare | $(( bare / N )) per refresh |"
  echo "| keeper (PostgreSQL + AES), $N refreshes: keeper process | $pg_keeper | $(( pg_keeper / N )) per refresh |"
  echo "| keeper (PostgreSQL + AES), $N refreshes: server processes | $pg_server | $(( pg_server / N )) per refresh |"
  awk -v k="$pg_keeper" -v s="$pg_server" -v b="$bare" 'BEGIN { printf "| ratio bare/(keeper + server), PostgreSQL | | %.2f |\n", b / (k + s) }'
  exit 0
fi
keeper="$(count_phase LW_BENCH_KEEPER_ONLY)"
gw="$(count_all)"
# The gateway run: a warm-up of min(500, calls) per client, then one phase per client.
gw_calls=$(( 3 * (CALLS + (CALLS < 500 ? CALLS : 500)) ))

echo "| figure | instructions | per unit |"
echo "|---|---|---|"
echo "| keeper (SQLite + AES), $N refreshes | $keeper | $(( keeper / N )) per refresh |"
echo "| bare client, $N refreshes | $bare | $(( bare / N )) per refresh |"
awk -v k="$keeper" -v b="$bare" 'BEGIN { printf "| ratio bare/keeper | | %.2f |\n", b / k }'
echo "| gateway bench, whole run (3 clients) | $gw | $(( gw / gw_calls )) per call |"
if [[ -n "$pg_keeper" ]]; then
  echo "| keeper (PostgreSQL + AES), $N refreshes: keeper process | $pg_keeper | $(( pg_keeper / N )) per refresh |"
  echo "| keeper (PostgreSQL + AES), $N refreshes: server processes | $pg_server | $(( pg_server / N )) per refresh |"
  awk -v k="$pg_keeper" -v s="$pg_server" -v b="$bare" 'BEGIN { printf "| ratio bare/(keeper + server), PostgreSQL | | %.2f |\n", b / (k + s) }'
fi
