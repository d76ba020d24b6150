"""Generates the Grafana dashboards in this directory: edit here, run
`python3 dashboards/generate.py`, commit both. `dashboards/check/check.sh`
validates the result."""
import json
import os

OUT = os.path.dirname(os.path.abspath(__file__))

DS = {"type": "prometheus", "uid": "${datasource}"}
SEL = 'instance=~"$instance"'
CA = SEL + ',channel=~"$channel",account=~"$account"'

def var_ds():
    return {"name": "datasource", "label": "Data source", "type": "datasource", "query": "prometheus",
            "hide": 0, "refresh": 1, "regex": "", "options": [], "includeAll": False, "multi": False}

def var_q(name, label, query, multi=True):
    return {"name": name, "label": label, "type": "query", "datasource": DS,
            "query": {"query": query, "refId": "PrometheusVariableQueryEditor-VariableQuery", "qryType": 1},
            "refresh": 2, "sort": 1, "multi": multi, "includeAll": True, "allValue": ".+",
            "hide": 0, "options": [], "regex": ""}

class Board:
    def __init__(self):
        self.panels = []
        self.y = 0
        self.x = 0
        self.rowh = 0
        self.id = 0

    def add(self, type_, title, targets, w, h, desc="", **extra):
        if self.x + w > 24:
            self.x = 0
            self.y += self.rowh
            self.rowh = 0
        self.id += 1
        p = {"id": self.id, "type": type_, "title": title, "description": desc, "datasource": DS,
             "gridPos": {"x": self.x, "y": self.y, "w": w, "h": h},
             "targets": [dict({"datasource": DS, "refId": chr(65 + i)}, **t) for i, t in enumerate(targets)]}
        p.update(extra)
        self.panels.append(p)
        self.x += w
        self.rowh = max(self.rowh, h)

def t(expr, legend="", **kw):
    d = {"expr": expr, "legendFormat": legend, "range": True, "instant": False}
    d.update(kw)
    return d

STATES = ["connected", "connecting", "reconnecting", "disconnected", "error", "auth_required"]
COLORS = ["green", "blue", "yellow", "orange", "red", "purple"]
state_map = [{"type": "value", "options": {str(i): {"text": s, "color": c, "index": i}}} for i, (s, c) in enumerate(zip(STATES, COLORS))]
state_num = " + ".join(
    f'sum by (channel, account) (openclaw_channel_state{{{CA},state="{s}"}}) * {i}' for i, s in enumerate(STATES) if i > 0)

def dashboard(uid, title, desc, board, variables, tags):
    return {
        "uid": uid, "title": title, "description": desc, "tags": tags, "editable": True,
        "schemaVersion": 39, "version": 1, "graphTooltip": 1, "timezone": "browser",
        "time": {"from": "now-6h", "to": "now"}, "refresh": "30s", "fiscalYearStartMonth": 0,
        "liveNow": False, "weekStart": "", "links": [],
        "annotations": {"list": [{"builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                                  "enable": True, "hide": True, "iconColor": "rgba(0, 211, 255, 1)",
                                  "name": "Annotations & Alerts", "type": "dashboard"}]},
        "templating": {"list": variables},
        "panels": board.panels,
    }

def ts(unit="short", stack=False, draw="line"):
    return {"fieldConfig": {"defaults": {"unit": unit, "custom": {"drawStyle": draw, "lineWidth": 1, "fillOpacity": 10,
            "stacking": {"mode": "normal" if stack else "none", "group": "A"}}}, "overrides": []},
            "options": {"legend": {"displayMode": "table", "placement": "right", "showLegend": True, "calcs": ["lastNotNull", "max"]},
                        "tooltip": {"mode": "multi", "sort": "desc"}}}

# Overview
b = Board()
b.add("stat", "Gateway up", [t(f'max(openclaw_gateway_up{{{SEL}}})', instant=True, range=False)], 4, 4,
      "1 when the gateway answered clawwatch's last poll.",
      fieldConfig={"defaults": {"mappings": [{"type": "value", "options": {"0": {"text": "DOWN", "color": "red"}, "1": {"text": "UP", "color": "green"}}}],
                                 "thresholds": {"mode": "absolute", "steps": [{"color": "red", "value": None}, {"color": "green", "value": 1}]}}, "overrides": []},
      options={"colorMode": "background", "graphMode": "none", "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}})
b.add("stat", "Accounts connected", [t(f'sum(openclaw_channel_up{{{CA}}})', "connected", instant=True, range=False),
                                     t(f'count(openclaw_channel_up{{{CA}}})', "watched", instant=True, range=False)], 6, 4,
      "Connected accounts out of those watched.",
      options={"colorMode": "value", "graphMode": "none", "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}})
b.add("stat", "Alerts firing", [t(f'sum(clawwatch_alerts_firing{{{SEL}}})', instant=True, range=False)], 4, 4,
      "Built-in alerts firing now (clawwatch's own engine).",
      fieldConfig={"defaults": {"thresholds": {"mode": "absolute", "steps": [{"color": "green", "value": None}, {"color": "red", "value": 1}]}}, "overrides": []},
      options={"colorMode": "background", "graphMode": "none", "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}})
b.add("stat", "Gateway ready", [t(f'max(openclaw_gateway_ready{{{SEL}}})', instant=True, range=False)], 4, 4,
      "The gateway's own /readyz.",
      fieldConfig={"defaults": {"mappings": [{"type": "value", "options": {"0": {"text": "NOT READY", "color": "orange"}, "1": {"text": "READY", "color": "green"}}}]}, "overrides": []},
      options={"colorMode": "background", "graphMode": "none", "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}})
b.add("stat", "Log lines read /s", [t(f'sum(rate(openclaw_log_lines_total{{{SEL}}}[$__rate_interval]))', instant=True, range=False)], 6, 4,
      "Gateway log lines clawwatch reads.", fieldConfig={"defaults": {"unit": "short"}, "overrides": []},
      options={"colorMode": "value", "graphMode": "area", "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}})
b.add("table", "State now", [t(f'openclaw_channel_state{{{CA}}} == 1', format="table", instant=True, range=False),
                              t(f'time() - openclaw_channel_state_since_timestamp_seconds{{{CA}}}', format="table", instant=True, range=False)], 24, 7,
      "Every account's state and how long it has been in it.",
      transformations=[{"id": "merge", "options": {}},
                       {"id": "organize", "options": {"excludeByName": {"Time": True, "__name__": True, "job": True, "Value #A": True},
                                                      "renameByName": {"Value #B": "for"}, "indexByName": {"channel": 0, "account": 1, "state": 2, "Value #B": 3}}}],
      fieldConfig={"defaults": {}, "overrides": [{"matcher": {"id": "byName", "options": "for"}, "properties": [{"id": "unit", "value": "s"}]},
                                                 {"matcher": {"id": "byName", "options": "state"}, "properties": [{"id": "custom.cellOptions", "value": {"type": "color-background"}},
                                                  {"id": "mappings", "value": [{"type": "value", "options": {s: {"color": c, "index": i}}} for i, (s, c) in enumerate(zip(STATES, COLORS))]}]}]},
      options={"showHeader": True, "sortBy": [{"displayName": "channel", "desc": False}]})
b.add("state-timeline", "State timeline", [t(state_num, "{{channel}}/{{account}}")], 24, 8,
      "Each account's state over time.",
      fieldConfig={"defaults": {"mappings": state_map, "color": {"mode": "thresholds"},
                                "thresholds": {"mode": "absolute", "steps": [{"color": "green", "value": None}]}}, "overrides": []},
      options={"mergeValues": True, "showValue": "never", "alignValue": "left", "rowHeight": 0.9, "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True}})
b.add("timeseries", "Disconnects by reason", [t(f'sum by (channel, reason) (increase(openclaw_channel_disconnects_total{{{CA}}}[$__rate_interval]))', "{{channel}} {{reason}}")], 12, 8,
      "Disconnects, by the reason clawwatch derived.", **ts(stack=True, draw="bars"))
b.add("timeseries", "Reconnect attempts", [t(f'sum by (channel, account) (increase(openclaw_channel_reconnect_attempts_total{{{CA}}}[$__rate_interval]))', "{{channel}}/{{account}}")], 12, 8,
      "The gateway's restarts and socket retries.", **ts(stack=True))
b.add("timeseries", "Probe latency", [
        t(f'histogram_quantile(0.5, sum by (channel, account, le) (rate(openclaw_channel_heartbeat_latency_seconds_bucket{{{CA}}}[$__rate_interval])))', "p50 {{channel}}/{{account}}"),
        t(f'histogram_quantile(0.99, sum by (channel, account, le) (rate(openclaw_channel_heartbeat_latency_seconds_bucket{{{CA}}}[$__rate_interval])))', "p99 {{channel}}/{{account}}")], 12, 8,
      "Round trips of successful channel probes.", **ts("s"))
b.add("heatmap", "Probe latency heatmap", [t(f'sum by (le) (increase(openclaw_channel_heartbeat_latency_seconds_bucket{{{CA}}}[$__rate_interval]))', "{{le}}", format="heatmap")], 12, 8,
      "Distribution of probe round trips.",
      options={"calculate": False, "yAxis": {"unit": "s"}, "cellGap": 1, "color": {"mode": "scheme", "scheme": "Oranges", "fill": "dark-orange", "scale": "exponential", "exponent": 0.5, "steps": 64, "reverse": False},
               "rowsFrame": {"layout": "auto"}, "tooltip": {"mode": "single", "yHistogram": False}, "legend": {"show": True}, "exemplars": {"color": "rgba(255,0,255,0.7)"}, "filterValues": {"le": 1e-9}})
b.add("timeseries", "Last inbound message age", [t(f'time() - openclaw_channel_last_inbound_timestamp_seconds{{{CA}}}', "{{channel}}/{{account}}")], 12, 8,
      "How long since each account received a message.", **ts("s"))
b.add("timeseries", "State changes", [t(f'sum by (channel, to) (increase(openclaw_channel_transitions_total{{{CA}}}[$__rate_interval]))', "{{channel}} -> {{to}}")], 12, 8,
      "Transitions, by new state.", **ts(stack=True, draw="bars"))
b.add("timeseries", "Gateway up", [t(f'openclaw_gateway_up{{{SEL}}}', "{{instance}}"), t(f'openclaw_gateway_ready{{{SEL}}}', "ready {{instance}}")], 12, 6,
      "The gateway answering clawwatch, and its own readiness.", **ts())
b.add("timeseries", "Alerts firing", [t(f'clawwatch_alerts_firing{{{SEL}}}', "{{alert}}")], 12, 6,
      "clawwatch's built-in alerts.", **ts(stack=True))
b.add("timeseries", "Log rule matches", [t(f'sum by (rule, channel) (increase(openclaw_log_rule_matches_total{{{SEL}}}[$__rate_interval]))', "{{rule}} {{channel}}")], 12, 8,
      "Gateway log lines matching the built-in and configured rules.", **ts(stack=True))
b.add("timeseries", "Gateway RPC latency p90", [t(f'histogram_quantile(0.9, sum by (method, le) (rate(openclaw_gateway_rpc_duration_seconds_bucket{{{SEL}}}[$__rate_interval])))', "{{method}}")], 12, 8,
      "channels.status and health round trips.", **ts("s"))
overview = dashboard("openclaw-channels", "OpenClaw channels", "Every OpenClaw channel account's connection state, disconnects, reconnects and latency, from clawwatch.",
                     b, [var_ds(), var_q("instance", "Gateway", "label_values(openclaw_gateway_up, instance)"),
                         var_q("channel", "Channel", 'label_values(openclaw_channel_up{instance=~"$instance"}, channel)'),
                         var_q("account", "Account", 'label_values(openclaw_channel_up{instance=~"$instance",channel=~"$channel"}, account)')],
                     ["openclaw", "clawwatch"])

# Sidecar health
b = Board()
b.add("stat", "clawwatch up", [t('up{job=~"$job",instance=~"$instance"}', "{{instance}}", instant=True, range=False)], 6, 4,
      "Prometheus scraping clawwatch.",
      fieldConfig={"defaults": {"mappings": [{"type": "value", "options": {"0": {"text": "DOWN", "color": "red"}, "1": {"text": "UP", "color": "green"}}}]}, "overrides": []},
      options={"colorMode": "background", "graphMode": "none", "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}})
b.add("stat", "Notifications waiting", [t(f'sum(clawwatch_notification_queue_length{{{SEL}}})', instant=True, range=False)], 6, 4,
      "Notices in the outbox.",
      fieldConfig={"defaults": {"thresholds": {"mode": "absolute", "steps": [{"color": "green", "value": None}, {"color": "orange", "value": 1}, {"color": "red", "value": 100}]}}, "overrides": []},
      options={"colorMode": "background", "graphMode": "area", "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}})
b.add("stat", "Config loaded", [t(f'min(clawwatch_config_last_reload_successful{{{SEL}}})', instant=True, range=False)], 6, 4,
      "1 when the last config load succeeded.",
      fieldConfig={"defaults": {"mappings": [{"type": "value", "options": {"0": {"text": "FAILED", "color": "red"}, "1": {"text": "OK", "color": "green"}}}]}, "overrides": []},
      options={"colorMode": "background", "graphMode": "none", "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}})
b.add("table", "Version", [t(f'clawwatch_build_info{{{SEL}}}', format="table", instant=True, range=False)], 6, 4,
      "Build of each clawwatch.",
      transformations=[{"id": "organize", "options": {"excludeByName": {"Time": True, "Value": True, "__name__": True, "job": True}}}])
b.add("timeseries", "Log lag", [t(f'clawwatch_log_lag_bytes{{{SEL}}}', "{{instance}}")], 12, 8,
      "Bytes the gateway wrote that clawwatch has not read yet.", **ts("bytes"))
b.add("timeseries", "Log lines read", [t(f'sum by (level) (rate(openclaw_log_lines_total{{{SEL}}}[$__rate_interval]))', "{{level}}")], 12, 8,
      "Lines per second, by level.", **ts("short", stack=True))
b.add("timeseries", "Log rotations", [t(f'sum by (kind) (increase(clawwatch_log_rotations_total{{{SEL}}}[$__rate_interval]))', "{{kind}}")], 12, 8,
      "Rotations followed: rename, truncate, new file.", **ts(draw="bars"))
b.add("timeseries", "Notifications", [t(f'sum by (integration, result) (increase(clawwatch_notifications_total{{{SEL}}}[$__rate_interval]))', "{{integration}} {{result}}")], 12, 8,
      "Delivery attempts: sent, failed (retried), dropped.", **ts(stack=True, draw="bars"))
b.add("timeseries", "Notification queue", [t(f'clawwatch_notification_queue_length{{{SEL}}}', "{{instance}}")], 12, 8,
      "Notices waiting in the outbox.", **ts())
b.add("timeseries", "Gateway errors", [t(f'sum by (kind) (increase(clawwatch_gateway_errors_total{{{SEL}}}[$__rate_interval]))', "{{kind}}")], 12, 8,
      "Failures talking to the gateway, by kind.", **ts(stack=True, draw="bars"))
b.add("timeseries", "Recovery: channel restarts", [t(f'sum by (initiator, channel) (increase(openclaw_channel_restarts_total{{{SEL}}}[$__rate_interval]))', "{{initiator}} {{channel}}")], 12, 8,
      "Channel restarts, by who ran them: the gateway's own recovery or clawwatch's.", **ts(stack=True, draw="bars"))
b.add("timeseries", "Recovery exhausted", [t(f'openclaw_channel_recovery_exhausted{{{SEL}}}', "gateway {{channel}}/{{account}}"),
                                            t(f'clawwatch_recovery_exhausted{{{SEL}}}', "clawwatch {{channel}}/{{account}}")], 12, 8,
      "1 while the gateway's or clawwatch's recovery has given up on an account.", **ts())
b.add("timeseries", "Recovery actions", [t(f'sum by (channel, action, result) (increase(clawwatch_recovery_actions_total{{{SEL}}}[$__rate_interval]))', "{{channel}} {{action}} {{result}}")], 12, 8,
      "Restarts clawwatch's recovery ran, by result (docs/recovery.md).", **ts(stack=True, draw="bars"))
b.add("timeseries", "Scrape duration", [t('scrape_duration_seconds{job=~"$job",instance=~"$instance"}', "{{instance}}")], 12, 8,
      "How long Prometheus takes to scrape clawwatch.", **ts("s"))
b.add("timeseries", "Built-in alerts firing", [t(f'sum by (alert) (clawwatch_alerts_firing{{{SEL}}})', "{{alert}}")], 12, 8,
      "clawwatch's own engine.", **ts(stack=True))
sidecar = dashboard("clawwatch-sidecar", "clawwatch sidecar health", "Is clawwatch itself healthy: log following, notifications, gateway errors.",
                    b, [var_ds(), var_q("job", "Job", "label_values(clawwatch_build_info, job)"),
                        var_q("instance", "Instance", 'label_values(clawwatch_build_info{job=~"$job"}, instance)')],
                    ["openclaw", "clawwatch"])

for name, d in [("openclaw-channels.json", overview), ("clawwatch-sidecar.json", sidecar)]:
    with open(os.path.join(OUT, name), "w") as f:
        json.dump(d, f, indent=2)
        f.write("\n")

