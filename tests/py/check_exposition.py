"""Parses a clawwatch exposition with the reference Python parsers.

usage: check_exposition.py openmetrics|prometheus FILE
Prints one JSON line: families, samples, and per (channel, account) the
number of openclaw_channel_state series and their sum. Exits 1 on a parse error.
"""
import json
import sys

from prometheus_client.openmetrics.parser import text_string_to_metric_families as om_parse
from prometheus_client.parser import text_string_to_metric_families as prom_parse

kind, path = sys.argv[1], sys.argv[2]
text = open(path, encoding="utf-8").read()
parse = om_parse if kind == "openmetrics" else prom_parse
try:
    families = list(parse(text))
except Exception as e:  # the parser's own message is the point
    print(f"parse error: {e}", file=sys.stderr)
    sys.exit(1)
states = {}
samples = 0
for fam in families:
    for s in fam.samples:
        samples += 1
        if s.name == "openclaw_channel_state":
            key = f'{s.labels["channel"]}/{s.labels["account"]}'
            n, total = states.get(key, (0, 0.0))
            states[key] = (n + 1, total + s.value)
print(json.dumps({"families": sorted(f.name for f in families), "samples": samples, "states": states}))
