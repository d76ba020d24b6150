#!/usr/bin/env python3
"""Key paths the OpenClaw gateway's config schema defines, for `clawwatch doctor`.

Usage: openclaw config schema | tools/openclaw-config-keys.py VERSION > data/openclaw-config-keys.txt

One path per line: `a.b.c` a key; `*` any key of a map (additionalProperties with
a schema); a path ending in `.**` allows anything below (a free-form object).
Arrays are walked through their items. `$ref` into `definitions`/`$defs` is followed.
"""
import json, sys

schema = json.load(sys.stdin)
defs = {**schema.get("definitions", {}), **schema.get("$defs", {})}
out = set()


def resolve(node):
    seen = 0
    while isinstance(node, dict) and "$ref" in node and seen < 50:
        ref = node["$ref"].split("/")[-1]
        node = defs.get(ref, {})
        seen += 1
    return node if isinstance(node, dict) else {}


def walk(node, path, depth=0):
    node = resolve(node)
    if depth > 40:
        return
    for k in ("anyOf", "oneOf", "allOf"):
        for alt in node.get(k, []):
            walk(alt, path, depth + 1)
    if "items" in node:
        items = node["items"]
        for it in items if isinstance(items, list) else [items]:
            walk(it, path, depth + 1)
    props = node.get("properties", {})
    for name, sub in props.items():
        p = f"{path}.{name}" if path else name
        out.add(p)
        walk(sub, p, depth + 1)
    ap = node.get("additionalProperties")
    is_object = node.get("type") == "object" or "properties" in node or ap is not None
    if isinstance(ap, dict) and ap:
        p = f"{path}.*" if path else "*"
        out.add(p)
        walk(ap, p, depth + 1)
    elif (ap is True or ap is None and not props and node.get("type") == "object") and is_object:
        out.add(f"{path}.**" if path else "**")
    for pat, sub in node.get("patternProperties", {}).items():
        p = f"{path}.*" if path else "*"
        out.add(p)
        walk(sub, p, depth + 1)


walk(schema, "")
version = sys.argv[1] if len(sys.argv) > 1 else "unknown"
print(f"# openclaw {version}: `openclaw config schema`, by tools/openclaw-config-keys.py")
for p in sorted(out):
    print(p)
