#!/usr/bin/env bash
# Minimises fuzz/corpus/<target>/ to a set cover of its coverage and packs it
# into fuzz/corpus.tar.xz, the corpus kept in the repository (seed.sh
# unpacks it). Run after a long fuzzing session, then commit the archive.
set -euo pipefail
cd "$(dirname "$0")"
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
cargo +nightly fuzz build -O >/dev/null 2>&1
for t in log_line frame config silence http_api; do
  mkdir -p "$out/$t"
  cargo +nightly fuzz run -O "$t" "$out/$t" "corpus/$t" -- -set_cover_merge=1 \
    -rss_limit_mb=2048 -detect_leaks=0 >/dev/null 2>&1
  echo "$t: $(ls "$out/$t" | wc -l) inputs"
done
tar -C "$out" -cf - log_line frame config silence http_api | xz -9 > corpus.tar.xz
ls -l corpus.tar.xz
