"""Helpers shared by bench/run.py and bench/soak.py: processes, scrapes,
/proc readings and the generated sections of docs/performance.md."""
import gzip as gz
import os
import platform
import re
import socket
import subprocess
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spawn(argv, log, env=None, cpus=None):
    e = dict(os.environ)
    e.update(env or {})
    if cpus:
        argv = ["taskset", "-c", cpus] + list(argv)
    return subprocess.Popen(argv, stdout=open(log, "w"), stderr=subprocess.STDOUT, env=e,
                            start_new_session=True)


def stop(*procs):
    for p in procs:
        if p is not None and p.poll() is None:
            p.terminate()
    for p in procs:
        if p is None:
            continue
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def get(url, headers=None, timeout=10):
    req = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()


def scrape(base, gzip=False):
    _, h, body = get(base + "/metrics", {"Accept-Encoding": "gzip"} if gzip else {})
    if h.get("content-encoding") == "gzip":
        body = gz.decompress(body)
    return body.decode()


def wait_ready(base, proc, timeout=60, series=None):
    """Until /readyz answers 200 (and, with `series`, /metrics holds that
    many openclaw_channel_state samples)."""
    t = time.monotonic()
    while time.monotonic() - t < timeout:
        if proc.poll() is not None:
            raise SystemExit(f"{proc.args} exited ({proc.returncode})")
        try:
            if get(base + "/readyz", timeout=2)[0] == 200:
                if series is None:
                    return
                n = scrape(base).count("\nopenclaw_channel_state{")
                if n >= series:
                    return
        except Exception:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{base} not ready after {timeout} s")


def samples(text, name):
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            try:
                yield float(line.rsplit(" ", 1)[1])
            except ValueError:
                pass


def value(text, name):
    v = list(samples(text, name))
    return v[0] if v else None


def total(text, name):
    return sum(samples(text, name))


def status_kib(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def rss_kib(pid):
    return status_kib(pid, "VmRSS")


def threads(pid):
    return status_kib(pid, "Threads")


def tree_rss_kib(pid):
    """RSS of a process and all its descendants."""
    out = subprocess.run(["ps", "-e", "-o", "pid=,ppid=,rss="], capture_output=True, text=True).stdout
    kids, rss = {}, {}
    for line in out.splitlines():
        p, pp, r = (int(x) for x in line.split())
        kids.setdefault(pp, []).append(p)
        rss[p] = r
    todo, total_kib = [pid], 0
    while todo:
        p = todo.pop()
        total_kib += rss.get(p, 0)
        todo += kids.get(p, [])
    return total_kib


def dir_kib(path):
    try:
        return sum(os.path.getsize(os.path.join(path, f)) for f in os.listdir(path)) // 1024
    except FileNotFoundError:
        return 0


def machine():
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            model = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    with open("/proc/meminfo") as f:
        mem = int(f.readline().split()[1]) // 1024 // 1024
    return f"{os.cpu_count()} cores ({model}), {mem} GiB, Linux {platform.release()}"


def revision():
    r = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    return (r.stdout.strip() or "?") + ("+changes" if dirty else "")


def put_section(path, name, body):
    """Replaces the text between `<!-- bench:NAME -->` and `<!-- /bench:NAME -->`
    (appended at the end when missing)."""
    begin, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    text = open(path).read() if os.path.exists(path) else ""
    block = f"{begin}\n{body.rstrip()}\n{end}"
    pat = re.compile(re.escape(begin) + ".*?" + re.escape(end), re.S)
    text = pat.sub(lambda _: block, text) if pat.search(text) else text.rstrip() + "\n\n" + block + "\n"
    with open(path, "w") as f:
        f.write(text)
