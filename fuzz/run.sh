#!/usr/bin/env bash
# Runs every fuzz target (or those named) for SECONDS each, one after the
# other, and prints one line per target: runs, coverage, crashes.
# Needs: rustup toolchain install nightly; cargo install cargo-fuzz.
#   fuzz/run.sh 600                 # every target, 10 min each
#   fuzz/run.sh 60 frame log_line   # two targets, 1 min each
set -euo pipefail
cd "$(dirname "$0")"
secs=${1:-60}; shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(log_line frame config silence http_api)
./seed.sh >/dev/null
cargo +nightly fuzz build -O >/dev/null 2>&1
mkdir -p logs
for t in "${targets[@]}"; do
  log=logs/$t.log
  # http_api keeps one sidecar and its simulated gateway running across
  # inputs: their bounded socket buffers are live memory, not leaks.
  leaks=1; [ "$t" = http_api ] && leaks=0
  set +e
  cargo +nightly fuzz run -O "$t" -- -max_total_time="$secs" -rss_limit_mb=2048 -detect_leaks=$leaks \
    -max_len=65536 -print_final_stats=1 >"$log" 2>&1
  rc=$?
  set -e
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || echo '?')
  crashes=$(ls artifacts/"$t" 2>/dev/null | wc -l)
  printf '%-9s %6ss  runs %-10s cov %-6s artifacts %s  rc %s\n' "$t" "$secs" "$runs" "$cov" "$crashes" "$rc"
done
