#!/usr/bin/env python3
"""One run, every figure side by side with its peer: log scan against mtail
at 1, 10 and 100 rules; /metrics under wrk against a static axum endpoint of
the same bytes and against blackbox_exporter; RSS next to the real OpenClaw
gateway's; start to ready; log line -> /metrics; trigger -> SMTP notice.
Prints one table and, with --write, puts it into docs/performance.md.

usage: bench/run.sh [--write] [--secs 8] [--quick]
"""
import argparse
import collections
import glob
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import benchlib as B  # noqa: E402

BIN = os.path.join(ROOT, "target/release/clawwatch")
STATIC = os.path.join(ROOT, "target/release/examples/static_metrics")
TEN = [
    "(?i)disconnect", "(?i)logged out", "(?i)relink|channels login", "(?i)reconnect scheduled",
    "close code:? 40(04|1[0-4])", "(?i)unauthorized", "(?i)polling stall",
    "auto-restart attempt [0-9]+/[0-9]+", "(?i)giving up|max attempts reached",
    "status (401|408|428|440|499|515)",
]
# mtail programs also carry clawwatch's eight built-in rules, which every
# `logs scan` applies too.
BUILTIN_MTAIL = [
    "(?i)disconnect", "(?i)(websocket closed|connection closed)",
    r"(?i)(unauthorized|qr code|scan the qr|returned 401|returned 404|failed \(401\)|relink|re-authenticate)",
    "(?i)logged out", "(?i)(bot token unauthorized|channel exited: unauthorized|fatal gateway close code: 4004)",
    r"(?i)(close code:?|closed with code|websocket closed:?) (\d{4})",
    "(?i)(getupdates conflict|polling stall detected|'getupdates' failed|getupdates failed)",
    "(?i)(reconnect scheduled|auto-restart attempt|scheduling retry)",
]
rows = []  # (section, what, this, peer, ratio, target)


def row(section, what, this, peer="", ratio="", target=""):
    rows.append((section, what, this, peer, ratio, target))
    print(f"{section:10} {what:46} {this:>18} {peer:>18} {ratio:>8} {target}", flush=True)


def fixture_lines():
    src = []
    for f in sorted(glob.glob(f"{ROOT}/tests/fixtures/openclaw/gateway-log-sample*.jsonl")
                    + glob.glob(f"{ROOT}/tests/fixtures/openclaw/sequences/*.log.jsonl")):
        src += [l for l in open(f, encoding="utf-8") if l.startswith("{")]
    return src


def rule_sets(src):
    words = collections.Counter()
    ten_text = " ".join(TEN).lower()
    for l in src:
        msg = json.loads(l).get("message", "")
        words.update(w for w in re.findall(r"[A-Za-z]{5,}", msg) if w.lower() not in ten_text)
    sixty = [w for w, _ in words.most_common(60)]
    never = [f"nomatch{i:02}-[a-f]+ zz[0-9]+" for i in range(30)]
    return {1: TEN[:1], 10: TEN, 100: TEN + sixty + never}


def write_rules(tmp, n, rules):
    toml = os.path.join(tmp, f"rules{n}.toml")
    with open(toml, "w") as f:
        for i, r in enumerate(rules):
            f.write(f"[[rules]]\nname = \"r{i:03}\"\nregex = '{r}'\n\n")
    progs = os.path.join(tmp, f"mtail{n}")
    os.makedirs(progs, exist_ok=True)
    with open(os.path.join(progs, "rules.mtail"), "w") as f:
        f.write("counter lines\ncounter matches by rule\n/$/ {\n  lines++\n}\n")
        for i, r in enumerate(BUILTIN_MTAIL + rules):
            f.write(f"/{r.replace('/', chr(92) + '/')}/ {{\n  matches[\"r{i:03}\"]++\n}}\n")
    return toml, progs


def log_scan(tmp, quick):
    src = fixture_lines()
    big, small = os.path.join(tmp, "big.log"), os.path.join(tmp, "small.log")
    want = 60 << 20 if quick else 300 << 20
    with open(big, "w") as f:
        n = size = 0
        while size < want:
            line = src[n % len(src)]
            f.write(line)
            size += len(line.encode())
            n += 1
    m_lines = 20000
    with open(small, "w") as f:
        f.writelines(src[i % len(src)] for i in range(m_lines))
    subprocess.run(["cat", big], stdout=subprocess.DEVNULL)
    print(f"log: {n} lines, {size >> 20} MiB ({size // n} B/line) cycled from {len(src)} real gateway lines")
    rates = {}
    for k, rules in rule_sets(src).items():
        toml, progs = write_rules(tmp, k, rules)
        best = 0
        for _ in range(3):
            out = subprocess.run(["taskset", "-c", "0", BIN, "logs", "scan", "--json", "--config", toml, big],
                                 capture_output=True, text=True, check=True).stdout
            d = json.loads(out)
            best = max(best, d["lines"] / max(d["seconds"], 1e-9))
        t = time.monotonic()
        subprocess.run(["taskset", "-c", "0", "mtail", "--one_shot", "--one_shot_format=prometheus",
                        "--progs", progs, "--logs", small, "--logtostderr"],
                       capture_output=True, text=True)
        mt = m_lines / (time.monotonic() - t)
        rates[k] = best
        target = {10: ">= 1.5M lines/s, >= 150x mtail"}.get(k, "")
        if k == 100:
            target = f">= 1/2 of 10 rules: {best / rates[10]:.2f}"
        row("log scan", f"{k} rules (+8 built-in), lines/s, 1 core", f"{best:,.0f}", f"mtail {mt:,.0f}",
            f"{best / mt:.0f}x", target)


def wrk(url, conns, secs, gzip=False):
    argv = ["wrk", f"-t{min(conns, 2)}", f"-c{conns}", f"-d{secs}s", "--latency", url]
    if gzip:
        argv[1:1] = ["-H", "Accept-Encoding: gzip"]
    out = subprocess.run(argv, capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s*([\d.]+)", out).group(1))
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    p99ms = float(p99.group(1)) * {"us": 1e-3, "ms": 1, "s": 1e3}[p99.group(2)]
    errs = sum(int(x) for x in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errs += int(non2xx.group(1)) if non2xx else 0
    return rps, p99ms, errs


def sidecar(tmp, name, accounts):
    """Starts a simulated gateway and clawwatch; returns (procs, base)."""
    gw, cw = B.free_port(), B.free_port()
    if accounts is None:
        side = B.spawn([BIN, "demo", "--listen", f"127.0.0.1:{cw}"], f"{tmp}/{name}.log")
        base = f"http://127.0.0.1:{cw}"
        B.wait_ready(base, side, series=6)
        return [side], base, side
    sim = B.spawn([BIN, "simulate", "--listen", f"127.0.0.1:{gw}", "--scenario", "fleet",
                   "--fleet-size", str(accounts), "--token", "bench"], f"{tmp}/{name}-sim.log")
    cfg = f"{tmp}/{name}.toml"
    with open(cfg, "w") as f:
        f.write(f'[server]\nlisten = "127.0.0.1:{cw}"\n[gateway]\nurl = "ws://127.0.0.1:{gw}"\n'
                f'[logs]\nstate_dir = "{tmp}/state-{name}"\n[states]\nmax_accounts = {max(accounts, 10000)}\n')
    side = B.spawn([BIN, "run", "--config", cfg], f"{tmp}/{name}.log", env={"CLAWWATCH_GATEWAY_TOKEN": "bench"})
    base = f"http://127.0.0.1:{cw}"
    B.wait_ready(base, side, timeout=120, series=accounts * 6)
    return [side, sim], base, side


def scrape_bench(tmp, secs, quick):
    rss = {}
    for name, n in [("demo", None), ("1k", 1000), ("10k", 10000)]:
        procs, base, side = sidecar(tmp, name, n)
        time.sleep(3)
        _, _, plain = B.get(base + "/metrics")
        _, h, gzbody = B.get(base + "/metrics", {"Accept-Encoding": "gzip"})
        accts = n or 3
        open(f"{tmp}/{name}.txt", "wb").write(plain)
        open(f"{tmp}/{name}.gz", "wb").write(gzbody)
        row("/metrics", f"{name}: bytes plain / gzip (per account)",
            f"{len(plain):,} ({len(plain) // accts:,}/acct)", f"gzip {len(gzbody):,} ({len(gzbody) // accts:,}/acct)")
        sp = B.free_port()
        static = B.spawn([STATIC, f"127.0.0.1:{sp}", f"{tmp}/{name}.txt", f"{tmp}/{name}.gz"], f"{tmp}/static.log")
        time.sleep(0.5)
        conns = [1, 4] if name == "10k" else [4, 64]
        for c in conns:
            for gz in (False, True):
                a = wrk(base + "/metrics", c, secs, gz)
                b = wrk(f"http://127.0.0.1:{sp}/metrics", c, secs, gz)
                target = ""
                if name == "1k" and c == 4:
                    target = f"p99 < 10 ms, 0 errors: {'ok' if a[1] < 10 and a[2] == 0 else 'NO'}"
                if name == "1k" and c == 64:
                    target = f"req/s >= 80% of static: {'ok' if a[0] >= 0.8 * b[0] else 'NO'}"
                if name == "10k" and c == 1 and not gz:
                    target = f"p99 < 100 ms: {'ok' if a[1] < 100 else 'NO'}"
                row("/metrics", f"{name}, {c} conn{'s' if c > 1 else ''}{', gzip' if gz else ''}: req/s (p99 ms, errors)",
                    f"{a[0]:,.0f} ({a[1]:.1f}, {a[2]})", f"static {b[0]:,.0f} ({b[1]:.1f})", f"{a[0] / b[0]:.2f}", target)
        B.stop(static)
        rss[name] = (B.rss_kib(side.pid), B.status_kib(side.pid, "VmHWM"))
        B.stop(*procs)
    bb = shutil.which("prometheus-blackbox-exporter") or shutil.which("blackbox_exporter")
    if bb:
        p = B.free_port()
        cfg = f"{tmp}/bb.yml"
        open(cfg, "w").write("modules:\n  http_2xx:\n    prober: http\n")
        proc = B.spawn([bb, f"--web.listen-address=127.0.0.1:{p}", f"--config.file={cfg}"], f"{tmp}/bb.log")
        time.sleep(1)
        size = len(B.get(f"http://127.0.0.1:{p}/metrics")[2])
        for c in (4, 64):
            a = wrk(f"http://127.0.0.1:{p}/metrics", c, secs)
            row("/metrics", f"blackbox_exporter ({size:,} B), {c} conns: req/s (p99 ms)",
                f"{a[0]:,.0f} ({a[1]:.1f}, {a[2]})", "", "", "reference")
        B.stop(proc)
    return rss


def gateway_rss(tmp):
    oc = os.environ.get("CLAWWATCH_OPENCLAW_DIR", "/var/cache/clawwatch/oc")
    run = os.path.join(os.environ.get("CLAWWATCH_SHARED", os.path.join(ROOT, "../shared")), "openclaw/openclaw-run.sh")
    if not (os.path.isdir(oc) and os.path.exists(run)):
        return None
    port = B.free_port()
    t = time.monotonic()
    r = subprocess.run(["bash", run, oc, str(port), "start"], capture_output=True, text=True)
    ready = time.monotonic() - t
    try:
        if r.returncode != 0:
            return None
        time.sleep(15)
        pid = int(open(f"{oc}/gateway.pid").read())
        return B.tree_rss_kib(pid), ready
    finally:
        for f in ("gateway.pid", "mock.pid", "fake-discord.pid"):
            try:
                pid = int(open(f"{oc}/{f}").read())
                subprocess.run(["pkill", "-9", "-P", str(pid)])
                subprocess.run(["kill", "-9", str(pid)], stderr=subprocess.DEVNULL)
            except (OSError, ValueError):
                pass


def start_to_ready(tmp):
    gw = B.free_port()
    sim = B.spawn([BIN, "simulate", "--listen", f"127.0.0.1:{gw}", "--scenario", "steady", "--token", "t"], f"{tmp}/s2r-sim.log")
    times = []
    try:
        for i in range(5):
            cw = B.free_port()
            cfg = f"{tmp}/s2r.toml"
            open(cfg, "w").write(f'[server]\nlisten = "127.0.0.1:{cw}"\n[gateway]\nurl = "ws://127.0.0.1:{gw}"\n'
                                 f'[logs]\nstate_dir = "{tmp}/s2r-{i}"\n')
            t = time.monotonic()
            side = B.spawn([BIN, "run", "--config", cfg], f"{tmp}/s2r.log", env={"CLAWWATCH_GATEWAY_TOKEN": "t"})
            while True:
                try:
                    if B.get(f"http://127.0.0.1:{cw}/readyz", timeout=1)[0] == 200:
                        break
                except Exception:
                    pass
                time.sleep(0.005)
            times.append((time.monotonic() - t) * 1e3)
            B.stop(side)
    finally:
        B.stop(sim)
    return statistics.median(times)


def cargo_bench(name, *args):
    out = subprocess.run(["cargo", "bench", "-q", "--bench", name, "--", *args], cwd=ROOT,
                         capture_output=True, text=True)
    return out.stdout


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--write", action="store_true", help="put the table into docs/performance.md")
    ap.add_argument("--secs", type=int, default=8, help="seconds per wrk run")
    ap.add_argument("--quick", action="store_true", help="a 60 MiB log instead of 300 MiB")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="clawwatch-bench-")
    print(f"{'section':10} {'what':46} {'clawwatch':>18} {'peer':>18} {'ratio':>8} target")
    log_scan(tmp, a.quick)
    rss = scrape_bench(tmp, a.secs, a.quick)
    gw = gateway_rss(tmp)
    gw_kib = gw[0] if gw else None
    for name in ("demo", "1k", "10k"):
        now, peak = rss[name]
        target = "< 150 MiB: " + ("ok" if peak < 150 * 1024 else "NO") if name == "10k" else ""
        row("RSS", f"{name} accounts: now (peak) MiB", f"{now / 1024:.1f} ({peak / 1024:.1f})",
            f"gateway {gw_kib / 1024:.0f}" if gw_kib else "", f"{now / gw_kib:.2f}" if gw_kib else "", target)
    per = (rss["10k"][0] - rss["1k"][0]) * 1024 / 9000
    row("RSS", "memory per account (10k - 1k) / 9,000", f"{per:,.0f} B")
    s2r = start_to_ready(tmp)
    row("latency", "start -> /readyz 200 (median of 5)", f"{s2r:.0f} ms",
        f"gateway {gw[1] * 1e3:,.0f} ms" if gw else "", f"{s2r / (gw[1] * 1e3):.3f}" if gw else "")
    for line in cargo_bench("exposition", "100", "1000", "10000").splitlines():
        m = re.match(r"exposition of (\d+) accounts: (\d+) bytes, (\d+) gzipped", line)
        if m:
            acc = m.group(1)
        m2 = re.match(r"encode on every scrape: p50 ([\d.]+) ms", line)
        if m2:
            row("render", f"encode {acc} accounts (p50)", f"{float(m2.group(1)):.2f} ms")
        m3 = re.match(r"encode and gzip:\s+p50 ([\d.]+) ms", line)
        if m3:
            row("render", f"encode + gzip {acc} accounts (p50)", f"{float(m3.group(1)):.2f} ms")
    for bench, pat in (("log_latency", r"line -> (/metrics|/api/v1/events):\s+median ([\d.]+) ms\s+p99 ([\d.]+) ms"),
                       ("alert_latency", r"(log line|state change) -> mail at SMTP:\s+median ([\d.]+) ms\s+p99 ([\d.]+) ms")):
        for m in re.finditer(pat, cargo_bench(bench)):
            row("latency", f"{m.group(1)} -> {'mail at SMTP' if bench == 'alert_latency' else m.group(1)} (median, p99)".replace(
                "/metrics -> /metrics", "log line -> /metrics").replace("/api/v1/events -> /api/v1/events", "log line -> /api/v1/events"),
                f"{m.group(2)} / {m.group(3)} ms")
    shutil.rmtree(tmp, ignore_errors=True)
    if a.write:
        head = ["| part | what | clawwatch | peer (same run) | ratio | target |", "|---|---|---:|---:|---:|---|"]
        body = (f"`bench/run.sh --write{' --quick' if a.quick else ''} --secs {a.secs}` on {B.machine()}, "
                f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, at {B.revision()}.\n\n"
                + "\n".join(head + ["| " + " | ".join(r) + " |" for r in rows]) + "\n")
        B.put_section(os.path.join(ROOT, "docs/performance.md"), "run", body)


if __name__ == "__main__":
    main()
