#!/usr/bin/env python3
"""Soak: clawwatch against the simulated gateway's `flapping` scenario at high
speed, with its logs tailed, scraped like Prometheus (gzip, every 15 s) and the
status page and history read, and a history store capped small enough to be
full within minutes. Samples RSS, open descriptors, threads and live async
tasks each minute and prints them as a series; the verdict compares minute 5
with the end (RSS growth under 1 MiB; descriptors and tasks flat).

usage: bench/soak.py [--minutes 30] [--speed 20] [--bin target/release/clawwatch]
       [--write docs/performance.md]
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import benchlib as B  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=int, default=30)
    ap.add_argument("--speed", type=float, default=20)
    ap.add_argument("--bin", default=os.path.join(ROOT, "target/release/clawwatch"))
    ap.add_argument("--write", help="put the series into this markdown file")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="clawwatch-soak-")
    gw, cw = B.free_port(), B.free_port()
    logs = os.path.join(tmp, "gwlogs")
    os.makedirs(logs)
    sim = B.spawn([a.bin, "simulate", "--listen", f"127.0.0.1:{gw}", "--scenario", "flapping",
                   "--speed", str(a.speed), "--repeat", "--token", "soak", "--log-dir", logs],
                  os.path.join(tmp, "sim.log"))
    cap = "64KiB"
    cfg = os.path.join(tmp, "c.toml")
    with open(cfg, "w") as f:
        f.write(f"""[server]
listen = "127.0.0.1:{cw}"
[gateway]
url = "ws://127.0.0.1:{gw}"
poll_interval = "1s"
[logs]
paths = ["{logs}/*.log"]
state_dir = "{tmp}/state"
[history]
max_bytes = "{cap}"
""")
    side = B.spawn([a.bin, "run", "--config", cfg], os.path.join(tmp, "side.log"),
                   env={"CLAWWATCH_GATEWAY_TOKEN": "soak"})
    base = f"http://127.0.0.1:{cw}"
    try:
        B.wait_ready(base, side)
        print(f"soak: flapping x{a.speed:g}, history cap {cap}, {a.minutes} min; pid {side.pid}")
        print("min  RSS KiB  fds  threads  tasks  history KiB  dropped  transitions")
        rows = []
        t0 = time.monotonic()
        nxt = 0.0
        while True:
            el = time.monotonic() - t0
            if el >= nxt:
                m = B.scrape(base)
                row = {
                    "min": int(round(nxt / 60)),
                    "rss": B.rss_kib(side.pid),
                    "fds": len(os.listdir(f"/proc/{side.pid}/fd")),
                    "threads": B.threads(side.pid),
                    "tasks": int(B.value(m, "clawwatch_runtime_tasks") or 0),
                    "hist": B.dir_kib(os.path.join(tmp, "state", "history")),
                    "dropped": int(B.value(m, "clawwatch_history_dropped_total") or 0),
                    "trans": int(B.total(m, "openclaw_channel_transitions_total")),
                }
                rows.append(row)
                print("{min:3d}  {rss:7d}  {fds:3d}  {threads:7d}  {tasks:5d}  {hist:11d}  {dropped:7d}  {trans:11d}".format(**row), flush=True)
                if row["min"] >= a.minutes:
                    break
                nxt += 60
            # What Prometheus and an operator do meanwhile.
            B.scrape(base, gzip=True)
            for path in ("/", "/api/v1/history?limit=100", "/health/detail"):
                urllib.request.urlopen(base + path, timeout=10).read()
            if side.poll() is not None:
                sys.exit("clawwatch exited during the soak")
            time.sleep(15 - (time.monotonic() - t0) % 15)
    finally:
        B.stop(side, sim)
    at5 = next(r for r in rows if r["min"] >= min(5, a.minutes))
    end = rows[-1]
    later = [r for r in rows if r["min"] >= at5["min"]]
    full = next((r["min"] for r in rows if r["dropped"] > 0), None)
    grow = end["rss"] - at5["rss"]
    fds = (min(r["fds"] for r in later), max(r["fds"] for r in later))
    tasks = (min(r["tasks"] for r in later), max(r["tasks"] for r in later))
    verdict = [
        f"history cap {cap} reached by minute {full}" if full is not None else "history cap NOT reached",
        f"RSS minute {at5['min']} -> {end['min']}: {at5['rss']} -> {end['rss']} KiB ({grow:+d} KiB; target under +1024) {'ok' if grow < 1024 else 'OVER'}",
        f"descriptors from minute {at5['min']}: {fds[0]}..{fds[1]} {'flat' if fds[1] - fds[0] <= 2 else 'NOT FLAT'}",
        f"tasks from minute {at5['min']}: {tasks[0]}..{tasks[1]} {'flat' if tasks[1] - tasks[0] <= 2 else 'NOT FLAT'}",
        f"transitions seen: {end['trans']}",
    ]
    print("\n".join(verdict))
    if a.write:
        lines = ["| minute | RSS KiB | fds | threads | tasks | history KiB | dropped | transitions |",
                 "|---:|---:|---:|---:|---:|---:|---:|---:|"]
        lines += ["| {min} | {rss} | {fds} | {threads} | {tasks} | {hist} | {dropped} | {trans} |".format(**r) for r in rows]
        body = (f"`bench/soak.py --minutes {a.minutes} --speed {a.speed:g}` on {B.machine()}, "
                f"{time.strftime('%Y-%m-%d')}, at {B.revision()}.\n\n" + "\n".join(lines)
                + "\n\n" + "\n".join(f"- {v}" for v in verdict) + "\n")
        B.put_section(a.write, "soak", body)


if __name__ == "__main__":
    main()
