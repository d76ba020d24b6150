#!/usr/bin/env bash
# Fills fuzz/corpus/<target>/ from the kept corpus (corpus.tar.xz) and the
# repository's fixtures. Idempotent.
set -euo pipefail
cd "$(dirname "$0")"
root=..
fx=$root/tests/fixtures/openclaw
c=corpus
mkdir -p $c/log_line $c/frame $c/config $c/silence $c/http_api
# The kept corpus (minimised, see pack.sh), then seeds from the fixtures.
[ -f corpus.tar.xz ] && tar -xJf corpus.tar.xz -C $c
n=0
# One log line per seed.
for f in $fx/*.jsonl $fx/sequences/*.jsonl; do
  [ -f "$f" ] || continue
  while IFS= read -r line; do
    n=$((n + 1))
    printf '%s' "$line" >"$c/log_line/l$n"
  done < <(head -n 200 "$f")
done
# Frames: mode byte 0 (a frame), 1 (a states file).
n=0
for f in $fx/*.json $fx/*.jsonl $root/tests/fixtures/state-0.1.0/states.json; do
  [ -f "$f" ] || continue
  if [[ $f == *.jsonl ]]; then
    while IFS= read -r line; do
      n=$((n + 1))
      { printf '\0'; printf '%s' "$line"; } >"$c/frame/f$n"
    done < <(head -n 50 "$f")
  else
    n=$((n + 1))
    { printf '\0'; cat "$f"; } >"$c/frame/f$n"
    n=$((n + 1))
    { printf '\1'; cat "$f"; } >"$c/frame/f$n"
  fi
done
cp $root/examples/clawwatch.toml $c/config/example.toml
cat >$c/config/small.toml <<'T'
[gateway]
url = "ws://127.0.0.1:18789"
token_file = "/run/secrets/gw"
[states]
max_accounts = 100
[[rules]]
name = "x"
regex = "(?i)logged out"
state = "auth_required"
[alerting.telegram]
bot_token_file = "/run/t"
chat_id = "-100123"
T
cp $root/tests/fixtures/state-0.1.0/silences.json $c/silence/file.json
printf '%s' '{"matchers":[{"name":"channel","value":"whatsapp"}],"duration":"2h","comment":"x","createdBy":"me"}' >$c/silence/req.json
printf '%s' 'channel=~"wh.*"' >$c/silence/matcher
printf 'GET /health/detail\n\n' >$c/http_api/detail
printf 'GET /metrics\nAccept: application/openmetrics-text\n\n' >$c/http_api/metrics
printf 'GET /api/v1/history?limit=5\n\n' >$c/http_api/history
printf 'POST /api/v1/silences\nContent-Type: application/json\n\n{"matchers":[{"name":"channel","value":"telegram"}],"duration":"1h","comment":"c","createdBy":"me"}' >$c/http_api/silence
printf 'DELETE /api/v1/silences/abc\n\n' >$c/http_api/delete
echo "seeded: $(find $c -type f | wc -l) files"
