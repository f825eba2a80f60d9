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
#      LW_BENCH_CALLS (500): gateway calls per phase in the gateway count.
#
# Prints one table row per figure:
#   keeper (SQLite + AES): instructions per refreshed account, the whole process (keeper,
#                          sandbox server, SQLite thread), counted from the sweep's start;
#   bare client:           the same Graph refresh calls from a bare reqwest client,
#                          parsing the JSON, persisting nothing;
#   gateway run:           one whole `gateway` bench run (1 round) divided by its calls.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v valgrind >/dev/null || { echo "valgrind is needed (apt-get install valgrind)" >&2; exit 2; }
N="${LW_BENCH_ACCOUNTS:-2000}"
CALLS="${LW_BENCH_CALLS:-500}"

if [[ -z "${LW_BENCH_BIN_DIR:-}" ]]; then
  cargo bench --all-features --no-run --bench keeper_throughput --bench gateway >&2
  LW_BENCH_BIN_DIR=target/release/deps
fi
newest() { ls -t "$LW_BENCH_BIN_DIR"/"$1"-* 2>/dev/null | grep -v '\.d$' | head -1; }
KT="$(newest keeper_throughput)"
GW="$(newest gateway)"
[[ -x "$KT" && -x "$GW" ]] || { echo "no bench binaries in $LW_BENCH_BIN_DIR" >&2; exit 2; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# Runs the throughput bench for one phase under callgrind, counting from its marker
# ("<phase> starts in 1 s (pid N)") to the end; prints the instructions counted.
count_phase() {
  local mode="$1" out="$work/$1.cg"
  env "$mode=1" LW_BENCH_ACCOUNTS="$N" LW_BENCH_BACKENDS=sqlite \
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
  wait "$vg"
  callgrind_annotate "$out" 2>/dev/null | awk '/PROGRAM TOTALS/ && !done {gsub(",", "", $1); print $1; done = 1}'
}

count_all() {
  local out="$work/gw.cg"
  LW_BENCH_CALLS="$CALLS" LW_BENCH_ROUNDS=1 \
    valgrind --tool=callgrind --callgrind-out-file="$out" "$GW" >"$work/gw.stdout" 2>"$work/gw.stderr"
  callgrind_annotate "$out" 2>/dev/null | awk '/PROGRAM TOTALS/ && !done {gsub(",", "", $1); print $1; done = 1}'
}

keeper="$(count_phase LW_BENCH_KEEPER_ONLY)"
bare="$(count_phase LW_BENCH_BARE_ONLY)"
gw="$(count_all)"
# The gateway run: a warm-up of min(500, calls) per client, then one phase per client.
gw_calls=$(( 3 * (CALLS + (CALLS < 500 ? CALLS : 500)) ))

echo "| figure | instructions | per unit |"
echo "|---|---|---|"
echo "| keeper (SQLite + AES), $N refreshes | $keeper | $(( keeper / N )) per refresh |"
echo "| bare client, $N refreshes | $bare | $(( bare / N )) per refresh |"
awk -v k="$keeper" -v b="$bare" 'BEGIN { printf "| ratio bare/keeper | | %.2f |\n", b / k }'
echo "| gateway bench, whole run (3 clients) | $gw | $(( gw / gw_calls )) per call |"
