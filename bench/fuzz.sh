#!/usr/bin/env bash
# Runs every cargo-fuzz target for SECONDS each (default 600), not in CI.
# Needs: rustup toolchain install nightly; cargo install cargo-fuzz.
# The kept corpus is fuzz/corpus.tar.xz (unpacked into fuzz/corpus/ by
# fuzz/seed.sh, packed again by fuzz/pack.sh); new crashes land in
# fuzz/artifacts/<target>/ and each becomes a regression test.
#   bench/fuzz.sh            # every target, 10 minutes each
#   bench/fuzz.sh 60 frame   # one target, 1 minute
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
secs=${1:-600}; shift || true
exec fuzz/run.sh "$secs" "$@"
