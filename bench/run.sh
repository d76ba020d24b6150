#!/usr/bin/env bash
# Every speed and memory figure in one run, each beside its peer (mtail, a
# static axum endpoint of the same bytes, blackbox_exporter, the real
# OpenClaw gateway), as one table; --write puts it into docs/performance.md.
# Needs: apt-get install mtail wrk prometheus-blackbox-exporter; pip install
# aiosmtpd (trigger -> SMTP); the real gateway for its RSS
# (CLAWWATCH_OPENCLAW_DIR, as .ci/run installs it). Not run in CI.
#   bench/run.sh --write          # about 10 minutes
#   bench/run.sh --quick --secs 3 # a smaller log and shorter wrk runs
# The 30-minute soak is bench/soak.py.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
for t in mtail wrk; do command -v $t >/dev/null || { echo "needs $t (apt-get install $t)" >&2; exit 1; }; done
cargo build --release --quiet --bin clawwatch --example static_metrics
exec python3 bench/run.py "$@"
