#!/usr/bin/env bash
# Idle CPU and descriptors with many log files: N files (default 10,000)
# match [logs] paths, nothing writes, and we read the sidecar's CPU time
# from /proc over SECS seconds (default 30). Target: under 5% of a core,
# descriptors under [logs] max_open_files (256) plus a few sockets.
# The peer in the same run is mtail following the same glob with an empty
# program (apt-get install mtail); the ratio is clawwatch / mtail.
# usage: [BIN=...] bench/idle-files.sh [files] [seconds]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
N=${1:-10000}; SECS=${2:-30}
if [ -z "${BIN:-}" ]; then cargo build --release --quiet; BIN=$PWD/target/release/clawwatch; fi
TMP=$(mktemp -d); PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null; rm -rf "$TMP"' EXIT
mkdir -p "$TMP/logs" "$TMP/progs" "$TMP/state"
python3 - "$TMP/logs" "$N" <<'PY'
import sys
d, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    with open(f"{d}/openclaw-{i:05}.log", "w") as f:
        f.write('{"time":"2026-11-26T12:00:00.000+00:00","message":"file %05d line 0","_meta":{"logLevelName":"INFO"}}\n' % i)
PY
HZ=$(getconf CLK_TCK)
# cpu PID SECS: percent of one core used over SECS
cpu() {
  local a b
  a=$(awk '{print $14+$15}' "/proc/$1/stat"); sleep "$2"
  b=$(awk '{print $14+$15}' "/proc/$1/stat")
  awk -v t=$((b - a)) -v hz="$HZ" -v s="$2" 'BEGIN{printf "%.2f", 100 * t / hz / s}'
}
PORT=28797
cat > "$TMP/c.toml" <<TOML
[server]
listen = "127.0.0.1:$PORT"
[gateway]
url = "ws://127.0.0.1:9"
[logs]
paths = ["$TMP/logs/openclaw-*.log"]
state_dir = "$TMP/state"
TOML
prlimit --nofile=1024:1024 "$BIN" run --config "$TMP/c.toml" >/dev/null 2>&1 & CW=$!; PIDS+=($CW)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/metrics" | grep -q '^clawwatch_log_files_open [1-9]' && break; sleep 0.1; done
sleep 5
CW_CPU=$(cpu $CW "$SECS")
CW_FDS=$(ls /proc/$CW/fd | wc -l)
CW_OPEN=$(curl -sf "http://127.0.0.1:$PORT/metrics" | awk '/^clawwatch_log_files_open /{print $2}')
CW_RSS=$(awk '/VmRSS/{print $2}' /proc/$CW/status)
printf '%-10s %8s %8s %10s %10s\n' tool cpu% fds log_files rss_kib
printf '%-10s %8s %8s %10s %10s\n' clawwatch "$CW_CPU" "$CW_FDS" "$CW_OPEN" "$CW_RSS"
if command -v mtail >/dev/null; then
  # mtail holds one descriptor per file: give it room.
  prlimit --nofile=$((N + 1024)):$((N + 1024)) mtail --progs "$TMP/progs" --logs "$TMP/logs/openclaw-*.log" \
    --port 28798 --address 127.0.0.1 --logtostderr >/dev/null 2>&1 & MT=$!; PIDS+=($MT)
  sleep 10
  MT_CPU=$(cpu $MT "$SECS")
  MT_FDS=$(ls /proc/$MT/fd | wc -l)
  MT_RSS=$(awk '/VmRSS/{print $2}' /proc/$MT/status)
  printf '%-10s %8s %8s %10s %10s\n' mtail "$MT_CPU" "$MT_FDS" - "$MT_RSS"
  awk -v a="$CW_CPU" -v b="$MT_CPU" 'BEGIN{ if (b > 0) printf "cpu ratio clawwatch/mtail: %.2f\n", a / b; else print "cpu ratio: mtail used no CPU" }'
else
  echo "peer skipped: apt-get install mtail"
fi
awk -v a="$CW_CPU" 'BEGIN{ if (a < 5) print "PASS: idle CPU under 5% of a core"; else { print "FAIL: idle CPU " a "% >= 5%"; exit 1 } }'
