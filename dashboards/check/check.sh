#!/usr/bin/env bash
# Validates every dashboard: (1) against Grafana's published schema, by
# type-checking it as @grafana/schema's Dashboard with TypeScript (unknown
# keys and wrong types fail); (2) the rules TypeScript cannot see: unique
# panel ids, a 24-column grid without overlaps, every query on the
# ${datasource} variable (no hard-coded uid), channel/account variables.
# Usage: dashboards/check/check.sh   (needs node/npm; caches its packages)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${CLAWWATCH_GRAFANA_SCHEMA_DIR:-/var/cache/clawwatch/grafana-schema}
mkdir -p "$cache"
cp "$here/package.json" "$here/jsonify.ts" "$cache/"
if [ ! -x "$cache/node_modules/.bin/tsc" ] || ! cmp -s "$here/package.json" "$cache/.installed"; then
  (cd "$cache" && npm install --no-audit --no-fund --silent >/dev/null && cp package.json .installed)
fi
rm -f "$cache"/check_*.ts
for f in "$here"/../*.json; do
  n=$(basename "$f" .json | tr '-' '_')
  {
    echo "import type { Dashboard } from '@grafana/schema';"
    echo "import type { Jsonify } from './jsonify';"
    echo "export const d: Jsonify<Dashboard> = "
    cat "$f"
    echo ";"
  } > "$cache/check_$n.ts"
done
cat > "$cache/tsconfig.json" <<'JSON'
{"compilerOptions": {"strict": true, "noEmit": true, "module": "esnext", "moduleResolution": "bundler", "target": "es2022", "skipLibCheck": true}, "include": ["check_*.ts"]}
JSON
(cd "$cache" && ./node_modules/.bin/tsc -p .)
python3 - "$here"/../*.json <<'PY'
import json, sys
bad = []
for path in sys.argv[1:]:
    d = json.load(open(path))
    name = path.rsplit("/", 1)[-1]
    vars_ = {v["name"]: v for v in d["templating"]["list"]}
    if vars_.get("datasource", {}).get("type") != "datasource":
        bad.append(f"{name}: no datasource variable")
    if "uid" not in d or not d.get("title"):
        bad.append(f"{name}: needs uid and title")
    ids, cells = set(), set()
    panels = list(d["panels"])
    while panels:
        p = panels.pop()
        panels.extend(p.get("panels", []))
        if p["id"] in ids:
            bad.append(f"{name}: duplicate panel id {p['id']}")
        ids.add(p["id"])
        g = p["gridPos"]
        if g["x"] < 0 or g["w"] < 1 or g["x"] + g["w"] > 24 or g["h"] < 1:
            bad.append(f"{name}: panel {p['title']!r} outside the 24-column grid")
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                if (x, y) in cells:
                    bad.append(f"{name}: panel {p['title']!r} overlaps another at {x},{y}")
                    break
                cells.add((x, y))
        for obj in [p] + p.get("targets", []):
            ds = obj.get("datasource")
            if ds is not None and ds.get("uid") != "${datasource}":
                bad.append(f"{name}: panel {p['title']!r} has a hard-coded datasource {ds}")
        if p["type"] != "row" and not p.get("targets"):
            bad.append(f"{name}: panel {p['title']!r} has no query")
        if not p.get("description"):
            bad.append(f"{name}: panel {p['title']!r} has no description")
    text = json.dumps(d)
    for v in ("channel", "account"):
        if f"${v}" in text and v not in vars_:
            bad.append(f"{name}: uses ${v} without a variable")
    print(f"{name}: {len(ids)} panels")
if bad:
    print("\n".join(bad), file=sys.stderr)
    sys.exit(1)
PY
echo "dashboards: OK"
