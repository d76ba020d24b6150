#!/usr/bin/env bash
# /metrics scrape latency and sidecar RSS with the `fleet` scenario.
# Starts the simulated gateway with N accounts (default 1000) and a sidecar
# polling it every second, then scrapes with wrk (one connection, like
# Prometheus) and prints p50/p99 latency and RSS against the targets
# (p99 < 5 ms, RSS < 30 MiB). Peers in the same run: PEER=path/to/clawwatch
# measures another build (say the last release) right after this one and
# prints this/peer ratios, which hold on a noisy machine where absolute
# figures drift; `cargo bench --bench exposition` gives the encoding cost.
# usage: [BIN=...] [PEER=...] bench/scrape.sh [accounts] [seconds]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
N=${1:-1000}; SECS=${2:-15}
command -v wrk >/dev/null || { echo "needs wrk (apt-get install wrk)" >&2; exit 1; }
if [ -z "${BIN:-}" ]; then cargo build --release --quiet; BIN=$PWD/target/release/clawwatch; fi
GW=127.0.0.1:18799; CW=127.0.0.1:28799
TMP=$(mktemp -d); SIM=; SIDE=
trap 'kill $SIM $SIDE 2>/dev/null; rm -rf "$TMP"' EXIT
to_ms() { case "$1" in *us) echo "${1%us}" | awk '{print $1/1000}';; *ms) echo "${1%ms}";; *s) echo "${1%s}" | awk '{print $1*1000}';; esac; }

# measure BIN NAME: prints the figures and leaves "p99ms peak_kib" in $TMP/NAME
measure() {
  local bin=$1 name=$2 n=0
  if pgrep -f "clawwatch simulate --listen $GW" >/dev/null; then echo "a simulator already listens on $GW" >&2; exit 1; fi
  "$bin" simulate --listen $GW --scenario fleet --fleet-size "$N" --token bench >/dev/null 2>&1 & SIM=$!
  cat > "$TMP/c.toml" <<TOML
[server]
listen = "$CW"
[gateway]
url = "ws://$GW"
poll_interval = "1s"
probe_interval = "10s"
[logs]
state_dir = "$TMP/state-$name"
TOML
  CLAWWATCH_GATEWAY_TOKEN=bench "$bin" run --config "$TMP/c.toml" >/dev/null 2>"$TMP/side.log" & SIDE=$!
  for _ in $(seq 1 100); do
    n=$(curl -s "http://$CW/metrics" | grep -c '^openclaw_channel_state{' || true)
    [ "$n" -ge $((N * 6)) ] && break; sleep 0.2
  done
  [ "$n" -ge $((N * 6)) ] || { echo "$name: sidecar did not report $N accounts (is port ${GW##*:} or ${CW##*:} taken?)" >&2; tail -5 "$TMP/side.log" >&2; exit 1; }
  # Let a few polls and probes run, so the scrape races real updates.
  sleep 3
  echo "[$name] $bin"
  echo "accounts: $N   openclaw_channel_state series: $n   exposition: $(curl -s "http://$CW/metrics" | wc -c) bytes"
  wrk -t1 -c1 -d"${SECS}s" --latency "http://$CW/metrics" > "$TMP/wrk.txt"
  local p50 p99 reqs rss hwm
  p50=$(awk '$1=="50%"{print $2}' "$TMP/wrk.txt"); p99=$(awk '$1=="99%"{print $2}' "$TMP/wrk.txt")
  reqs=$(awk '/Requests\/sec/{print $2}' "$TMP/wrk.txt")
  rss=$(awk '/VmRSS/{print $2}' /proc/$SIDE/status); hwm=$(awk '/VmHWM/{print $2}' /proc/$SIDE/status)
  echo "scrape latency: p50 $p50  p99 $p99  ($reqs scrapes/s, 1 connection, ${SECS}s)"
  echo "sidecar RSS: $((rss / 1024)) MiB now, $((hwm / 1024)) MiB peak"
  echo "$(to_ms "$p50") $(to_ms "$p99") $hwm" > "$TMP/$name"
  kill $SIM $SIDE 2>/dev/null; wait $SIM $SIDE 2>/dev/null || true; SIM=; SIDE=
}

measure "$BIN" this
read -r _ p99ms hwm < "$TMP/this"
awk -v p="$p99ms" -v r="$hwm" 'BEGIN {
  printf "p99 / target (5 ms): %.3f   %s\n", p / 5, (p < 5 ? "ok" : "OVER");
  printf "peak RSS / target (30 MiB): %.3f   %s\n", r / 1024 / 30, (r / 1024 < 30 ? "ok" : "OVER") }'
if [ -n "${PEER:-}" ]; then
  measure "$PEER" peer
  read -r a50 a99 ar < "$TMP/this"; read -r b50 b99 br < "$TMP/peer"
  awk -v a50="$a50" -v a99="$a99" -v ar="$ar" -v b50="$b50" -v b99="$b99" -v br="$br" 'BEGIN {
    printf "this / peer: p50 %.2f   p99 %.2f   peak RSS %.2f\n", a50 / b50, a99 / b99, ar / br }'
fi
