#!/usr/bin/env bash
# Validates the deploy files offline: the systemd unit (systemd-analyze
# verify, any complaint fails), the Kubernetes manifest (kubernetes-validate
# --strict against the Kubernetes schema), docker-compose.yml (the Compose
# specification's JSON schema, vendored from compose-spec/compose-spec,
# Apache-2.0, plus every file it mounts), the Prometheus config (promtool)
# and every clawwatch.toml they carry (clawwatch check-config).
# Usage: deploy/check/check.sh [path/to/clawwatch]   (default target/debug/clawwatch)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=$(realpath "${1:-$root/target/debug/clawwatch}")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if command -v systemd-analyze >/dev/null; then
  sed "s|/usr/local/bin/clawwatch|$bin|" "$root/deploy/systemd/clawwatch.service" > "$tmp/clawwatch.service"
  out=$(systemd-analyze verify "$tmp/clawwatch.service" 2>&1) || { echo "$out"; exit 1; }
  [ -z "$out" ] || { echo "systemd-analyze verify: $out"; exit 1; }
  echo "systemd unit: OK"
else
  echo "systemd unit: skipped (no systemd-analyze)"
fi

kubernetes-validate --strict --quiet "$root/deploy/kubernetes/openclaw-with-clawwatch.yaml"
echo "kubernetes: OK"

python3 - "$root" "$tmp" <<'PY'
import json, os, sys
import jsonschema, yaml
root, tmp = sys.argv[1], sys.argv[2]
deploy = os.path.join(root, "deploy")
compose = yaml.safe_load(open(os.path.join(deploy, "docker-compose.yml")))
schema = json.load(open(os.path.join(deploy, "check", "compose-spec.json")))
jsonschema.validate(compose, schema)
# Files it mounts or builds from exist (the gateway token is the user's).
for name, svc in compose["services"].items():
    b = svc.get("build")
    if b:
        ctx = os.path.join(deploy, b["context"])
        df = os.path.join(ctx, b.get("dockerfile", "Dockerfile"))
        assert os.path.exists(df), f"{name}: no {df}"
    for v in svc.get("volumes", []):
        src = v.split(":")[0]
        if src.startswith("."):
            assert os.path.exists(os.path.join(deploy, src)), f"{name}: no {src}"
        else:
            assert src in compose["volumes"], f"{name}: undeclared volume {src}"
    assert svc.get("network_mode", "service:openclaw").startswith("service:")
assert compose["services"]["clawwatch"]["network_mode"] == "service:openclaw"
# The TOML inside the Kubernetes ConfigMap, for check-config.
for doc in yaml.safe_load_all(open(os.path.join(deploy, "kubernetes", "openclaw-with-clawwatch.yaml"))):
    if doc["kind"] == "ConfigMap":
        open(os.path.join(tmp, "k8s-clawwatch.toml"), "w").write(doc["data"]["clawwatch.toml"])
print("compose: OK")
PY

printf 'scrape-token' > "$tmp/scrape-token"
sed -e "s|/etc/prometheus/rules/openclaw.rules.yml|$root/alerts/openclaw.rules.yml|" \
    -e "s|/run/secrets/clawwatch_scrape_token|$tmp/scrape-token|" \
    "$root/deploy/prometheus/prometheus.yml" > "$tmp/prometheus.yml"
promtool check config "$tmp/prometheus.yml" >/dev/null
echo "prometheus config: OK"

for cfg in "$root/deploy/compose/clawwatch.toml" "$tmp/k8s-clawwatch.toml" "$root/examples/clawwatch.toml"; do
  "$bin" check-config "$cfg" >/dev/null
done
echo "clawwatch configs: OK"
