#!/usr/bin/env bash
# clawwatch `logs scan` against mtail on the same generated OpenClaw log, in
# one run: lines/s for both and the ratio. The log repeats the real gateway
# lines under tests/fixtures/openclaw/ (about 650 bytes each).
# PEER=path/to/clawwatch also scans the same log with another build (say the
# last release) and prints this/peer.
# usage: [BIN=...] [PEER=...] bench/logscan.sh [clawwatch_lines=1000000] [mtail_lines=30000]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
N=${1:-1000000}; M=${2:-30000}
command -v mtail >/dev/null || { echo "needs mtail (apt-get install mtail)" >&2; exit 1; }
if [ -z "${BIN:-}" ]; then cargo build --release --quiet; BIN=$PWD/target/release/clawwatch; fi
TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT
gen() {  # gen N FILE
  python3 - "$1" "$2" <<'PY'
import glob, sys
src = []
for f in sorted(glob.glob("tests/fixtures/openclaw/gateway-log-sample*.jsonl") + glob.glob("tests/fixtures/openclaw/sequences/*.log.jsonl")):
    src += [l for l in open(f, encoding="utf-8") if l.startswith("{")]
n, out = int(sys.argv[1]), open(sys.argv[2], "w", encoding="utf-8")
for i in range(n):
    out.write(src[i % len(src)])
PY
}
gen "$N" "$TMP/big.log"; gen "$M" "$TMP/small.log"
cat "$TMP/big.log" > /dev/null  # warm the page cache for both
bytes=$(stat -c %s "$TMP/big.log")
echo "log: $N lines, $bytes bytes ($((bytes / N)) bytes/line); 12 rules (8 built-in + 4 configured)"

# One core (the scan is single-threaded): best of three; sets $best, $out.
scan() {
  best=0
  for _ in 1 2 3; do
    out=$(taskset -c 0 "$1" logs scan --json --config bench/logscan/rules.toml "$TMP/big.log" 2>/dev/null)
    lps=$(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(int(d["lines"]/max(d["seconds"],1e-9)))' "$out")
    if [ "$lps" -gt "$best" ]; then best=$lps; fi
  done
}
if [ -n "${PEER:-}" ]; then
  scan "$PEER"; peer=$best
  echo "peer logs scan:      $peer lines/s ($PEER)"
fi
scan "$BIN"
cw_disconnect=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["rules"]["disconnect"]["total"])' "$out")
echo "clawwatch logs scan: $best lines/s (disconnect matches: $cw_disconnect)"

mkdir -p "$TMP/progs"; cp bench/logscan/openclaw.mtail "$TMP/progs/"
start=$(date +%s.%N)
taskset -c 0 mtail --one_shot --one_shot_format=prometheus --progs "$TMP/progs" --logs "$TMP/small.log" --logtostderr 2>/dev/null > "$TMP/mtail.out" || true
end=$(date +%s.%N)
mt_lines=$(awk '/^openclaw_log_lines\{/{s+=$NF} END{print s+0}' "$TMP/mtail.out")
mlps=$(python3 -c "print(int($M/($end-$start)))")
echo "mtail --one_shot:    $mlps lines/s ($mt_lines lines counted of $M)"
mt_disc=$(awk '/^openclaw_log_rule_matches\{.*rule="disconnect"/{print $NF}' "$TMP/mtail.out")
cw_small=$("$BIN" logs scan --json --config bench/logscan/rules.toml "$TMP/small.log" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["rules"]["disconnect"]["total"])')
echo "same $M lines, disconnect matches: mtail $mt_disc, clawwatch $cw_small"
python3 -c "print(f'ratio clawwatch / mtail: {$best/$mlps:.0f}x   (targets: >= 1,000,000 lines/s and >= 100x)')"
[ -z "${PEER:-}" ] || python3 -c "print(f'this / peer: {$best/$peer:.2f}')"
