#!/usr/bin/python3
"""Seeder daemon benchmark (issue: seeder daemon), all on loopback, in one run:

  A. A cache of N snapshots (default 200): the first `llmpt daemon start`
     (verify, make torrents, publish) until the tracker counts a seeder for
     every one, then a restart with nothing changed (tracker restarted too, so
     its in-memory swarms are empty and every torrent must be announced
     again). Goal: restart < 10 s.
  B. The daemon's CPU over 30 s once everything is announced (idle), and its
     RSS. Goals: < 1% of a core, < 300 MiB.
  C. GET /v1/tasks latency (10 s of requests, one after another) with 50
     clients following a running download task's event stream, against the
     same without streams. Goal: p99 < 10 ms.

Needs python3-libtorrent (the rate-limited peer that keeps the task running).

  bench/daemon_bench.py [build/bin]      # SNAPSHOTS=200 by default
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build/bin")
SNAPSHOTS = int(os.environ.get("SNAPSHOTS", "200"))
os.environ["LLMPT_BIN"] = os.path.join(BIN, "llmpt")
os.environ["LLMPT_TRACKER_BIN"] = os.path.join(BIN, "llmpt-tracker")
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

import libtorrent as lt  # noqa: E402
from harness import Serve, UnixHTTPConnection, import_repo, unix_api as api  # noqa: E402
from p2p_harness import PySeeder  # noqa: E402
from tracker_harness import Tracker, make_torrent, publish_body  # noqa: E402

LLMPT = os.environ["LLMPT_BIN"]
TICKS = os.sysconf("SC_CLK_TCK")


def llmpt(*args, env=None):
    return subprocess.run([LLMPT] + list(args), capture_output=True, text=True, env=env, check=True)


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_mib(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                out[line.split(":")[0]] = int(line.split()[1]) / 1024
    return out


def seeders(tracker_url, keys):
    """How many of the torrents (announce keys, hex) the tracker counts a seeder for (scrape, in batches)."""
    n = 0
    for i in range(0, len(keys), 40):
        q = "&".join("info_hash=" + urllib.parse.quote(bytes.fromhex(k)) for k in keys[i:i + 40])
        with urllib.request.urlopen(tracker_url + "/scrape?" + q, timeout=10) as r:
            files = lt.bdecode(r.read()).get(b"files", {})
        n += sum(1 for v in files.values() if v.get(b"complete", 0) > 0)
    return n


def wait_all_announced(tracker_url, keys, t0, limit=600):
    while time.monotonic() - t0 < limit:
        if seeders(tracker_url, keys) == len(keys):
            return time.monotonic() - t0
        time.sleep(0.1)
    raise SystemExit("not all %d torrents announced within %d s" % (len(keys), limit))


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def get_latencies(sock, seconds=10):
    out = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        t = time.perf_counter()
        status, _ = api(sock, "GET", "/v1/tasks")
        out.append((time.perf_counter() - t) * 1000)
        assert status == 200
    return out


def follow(sock, task_id, stop, counts, i):
    c = UnixHTTPConnection(sock, timeout=120)
    c.request("GET", "/v1/tasks/%s/events" % task_id)
    r = c.getresponse()
    while not stop.is_set():
        line = r.fp.readline()
        if not line:
            break
        if line.startswith(b"event:"):
            counts[i] += 1
    c.close()


def main():
    work = tempfile.mkdtemp(prefix="llmpt-daemon-bench-")
    runtime = os.path.join(work, "run")
    os.mkdir(runtime, 0o700)
    env = dict(os.environ, XDG_RUNTIME_DIR=runtime, HF_HOME=os.path.join(work, "hf"))
    cache = os.path.join(work, "cache")
    log = os.path.join(work, "daemon.log")
    tracker = seeder = hub = None
    try:
        print("making %d snapshots ..." % SNAPSHOTS, flush=True)
        for i in range(SNAPSHOTS):
            import_repo(cache, "bench/m%03d" % i, {"config.json": b'{"i": %d}\n' % i,
                                                  "model.bin": os.urandom(256 * 1024)})
        # No publish flood limit (0.5/s per address by default): the first
        # start measures the daemon, not the tracker's flood protection.
        tracker = Tracker(os.path.join(work, "t.db"), "--publish-rate", "0")
        start = ["daemon", "start", "--cache-dir", cache, "--tracker", tracker.url, "--listen", "127.0.0.1:0",
                 "--log-file", log]

        # A. first start, then a restart with nothing changed.
        t0 = time.monotonic()
        llmpt(*start, env=env)
        sock = llmpt("daemon", "status", "--cache-dir", cache, "--json", env=env).stdout
        sock = json.loads(sock)[0]["socket"]
        deadline = time.monotonic() + 600
        while len(api(sock, "GET", "/v1/seeds")[1]) < SNAPSHOTS and time.monotonic() < deadline:
            time.sleep(0.2)
        keys = [s["info_hash"][:40] for s in api(sock, "GET", "/v1/seeds")[1]]
        cold = wait_all_announced(tracker.url, keys, t0)
        llmpt("daemon", "stop", "--cache-dir", cache, env=env)
        tracker.restart()  # empty swarms, same database
        start[start.index("--tracker") + 1] = tracker.url
        t0 = time.monotonic()
        llmpt(*start, env=env)
        warm = wait_all_announced(tracker.url, keys, t0)
        with open(log) as f:
            rehashed = sum(1 for line in f.read().split("daemon started")[-1].splitlines()
                           if "seeding" in line and " 0 bytes hashed now" not in line)

        # B. idle CPU and RSS.
        pid = api(sock, "GET", "/health")[1]["pid"]
        time.sleep(2)
        c0, w0 = cpu_seconds(pid), time.monotonic()
        time.sleep(30)
        idle = (cpu_seconds(pid) - c0) / (time.monotonic() - w0) * 100
        mem = rss_mib(pid)

        # C. GET /v1/tasks under 50 event streams of a running download.
        hub_cache = os.path.join(work, "hub")
        commit = import_repo(hub_cache, "bench/big", {"config.json": b"{}\n", "model.bin": os.urandom(64 << 20)})
        snap = os.path.join(hub_cache, "models--bench--big", "snapshots")
        data = make_torrent(os.path.join(snap, commit))
        req = urllib.request.Request(tracker.url + "/api/v1/publish", method="POST",
                                     data=json.dumps(publish_body("bench/big", commit, data)).encode(),
                                     headers={"Content-Type": "application/json"})
        urllib.request.urlopen(req, timeout=10).read()
        hub = Serve(hub_cache)
        seeder = PySeeder(data, snap, tracker.url, upload_rate=512 * 1024)
        base = get_latencies(sock)
        status, posted = api(sock, "POST", "/v1/tasks", json.dumps(
            {"repo": "bench/big", "endpoint": hub.url, "no_webseed": True, "p2p_timeout": 600}).encode())
        assert status == 201, posted
        task_id = posted["id"]
        stop = threading.Event()
        counts = [0] * 50
        threads = [threading.Thread(target=follow, args=(sock, task_id, stop, counts, i), daemon=True)
                   for i in range(50)]
        for t in threads:
            t.start()
        time.sleep(1)
        loaded = get_latencies(sock)
        state = api(sock, "GET", "/v1/tasks/" + task_id)[1]
        stop.set()
        api(sock, "DELETE", "/v1/tasks/" + task_id)

        print()
        print("A. %d snapshots: first start %.2f s to all announced; restart %.2f s (goal < 10 s); "
              "snapshots rehashed at restart: %d" % (SNAPSHOTS, cold, warm, rehashed))
        print("   restart / first start: %.2fx" % (warm / cold))
        print("B. idle CPU %.2f%% of a core (goal < 1%%); RSS %.1f MiB, peak %.1f MiB (goal < 300 MiB)"
              % (idle, mem.get("VmRSS", 0), mem.get("VmHWM", 0)))
        print("C. GET /v1/tasks: p50 %.2f ms, p99 %.2f ms without streams; p50 %.2f ms, p99 %.2f ms with 50 "
              "event streams (goal p99 < 10 ms); ratio p99 %.2fx" % (
                  pct(base, 50), pct(base, 99), pct(loaded, 50), pct(loaded, 99), pct(loaded, 99) / pct(base, 99)))
        print("   the streams received %d events in all (min %d per stream); task state while measured: %s, "
              "%d bytes done" % (sum(counts), min(counts), state["state"],
                                 (state.get("progress") or {}).get("bytes_done", 0)))
        if os.environ.get("DEBUG"):
            with open(log) as f:
                print(f.read()[-1500:])
            print(json.dumps(state)[:3000])
            print(seeder.h.status().num_peers, seeder.uploaded())
        if state.get("warnings"):
            print("   task warnings: %s" % state["warnings"])
    finally:
        subprocess.run([LLMPT, "daemon", "stop", "--cache-dir", cache], env=env, capture_output=True)
        if seeder:
            seeder.stop()
        if hub:
            hub.stop()
        if tracker:
            tracker.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(1))
    main()
