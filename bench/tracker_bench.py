#!/usr/bin/python3
"""Tracker benchmark (issue: llmpt-tracker), all on loopback, in one run:

  A. announce throughput with wrk (64 connections, 5,000 peers on one
     torrent): llmpt-tracker vs opentracker (Debian package, whitelist mode
     with the same info hash; llmpt-tracker also refuses unknown hashes).
     Rounds alternate between the two; medians and the ratio are printed.
  B. GET /api/v1/torrents?repo_id= p99 latency with 10,000 torrents in the
     database (wrk --latency, 16 connections).
  C. RSS of llmpt-tracker with 100,000 live peers.

Needs python3-libtorrent, wrk and opentracker (apt-get installs them).

  bench/tracker_bench.py [build/bin]
"""

import base64
import json
import os
import re
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

BIN = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build/bin")
ROUNDS = int(os.environ.get("ROUNDS", "3"))
SECONDS = int(os.environ.get("SECONDS_PER_RUN", "10"))


def ensure(pkgs):
    missing = [p for p in pkgs if subprocess.run(["dpkg", "-s", p], capture_output=True).returncode]
    if missing:
        subprocess.run(["apt-get", "install", "-y", "-qq"] + missing, check=True, capture_output=True)


ensure(["wrk", "opentracker", "python3-libtorrent"])
import libtorrent as lt  # noqa: E402


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_tracker(work, db, *extra):
    p = subprocess.Popen([os.path.join(BIN, "llmpt-tracker"), "--listen", "127.0.0.1:0", "--db", db, "--quiet",
                          "--log-file", os.path.join(work, "tracker.log")] + list(extra),
                         stdout=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    return p, int(line.split("http://127.0.0.1:")[1].split(" ")[0])


def stop(p):
    p.send_signal(signal.SIGTERM)
    p.wait(15)


def rss_mib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024


def wrk(url, script, connections, seconds, latency=False):
    args = ["wrk", "-t2", "-c%d" % connections, "-d%ds" % seconds, "-s", script, url]
    if latency:
        args.insert(1, "--latency")
    out = subprocess.run(args, capture_output=True, text=True, timeout=seconds + 60).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = None
    m = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    if m:
        p99 = float(m.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[m.group(2)]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rps, p99, int(errors.group(1)) if errors else 0, out


def announce_script(path, hash_raw, peers, ip_param=False, close=False):
    enc = "".join("%%%02X" % b for b in hash_raw)
    with open(path, "w") as f:
        f.write("""
local counter = 0
local tid = 0
setup = function(thread) tid = tid + 1; thread:set("offset", tid * 7919) end
request = function()
  counter = counter + 1
  local n = (counter + (offset or 0)) %% %d
  local port = 10000 + (n %% 50000)
  local path = "/announce?info_hash=%s&peer_id=" .. string.format("-WK0001-%%012d", n) ..
    "&port=" .. port .. "&uploaded=0&downloaded=0&left=100&compact=1&numwant=50"
  %s
  return wrk.format("GET", path%s)
end
""" % (peers, enc, ('path = path .. "&ip=127." .. (1 + math.floor(n / 65536)) .. "." .. (math.floor(n / 256) % 256) .. "." .. (n % 256)'
                   if ip_param else ""), ', {["Connection"] = "close"}' if close else ""))


def main():
    work = tempfile.mkdtemp(prefix="llmpt-tracker-bench-")
    procs = []
    try:
        # A snapshot and its v2 torrent, published to llmpt-tracker.
        src = os.path.join(work, "src")
        os.makedirs(src)
        for i in range(3):
            with open(os.path.join(src, "f%d.bin" % i), "wb") as f:
                f.write(os.urandom(64 * 1024))
        commit = subprocess.run([os.path.join(BIN, "llmpt"), "cache", "import", src, "--repo", "bench/m",
                                 "--cache-dir", os.path.join(work, "cache")], capture_output=True, text=True,
                                check=True).stdout.strip()
        snap = os.path.join(work, "cache", "models--bench--m", "snapshots", commit)
        fs = lt.file_storage()
        lt.add_files(fs, snap)
        t = lt.create_torrent(fs, 256 * 1024, flags=lt.create_torrent.v2_only)
        lt.set_piece_hashes(t, os.path.dirname(snap))
        data = lt.bencode(t.generate())
        ti = lt.torrent_info(data)
        key_hex = str(ti.info_hashes().v2)[:40]
        fst = ti.files()
        files = [{"path": fst.file_path(i)[len(commit) + 1:], "size": fst.file_size(i)}
                 for i in range(fst.num_files()) if not fst.file_flags(i) & lt.file_storage.flag_pad_file]
        body = {"repo_id": "bench/m", "revision": commit, "repo_type": "model", "name": commit,
                "info_hash": str(ti.info_hashes().v2), "total_size": sum(f["size"] for f in files),
                "file_count": len(files), "piece_length": 256 * 1024, "files": files,
                "torrent_data": base64.b64encode(data).decode()}

        db = os.path.join(work, "t.db")
        tracker, tport = start_tracker(work, db, "--announce-rate", "0", "--threads", os.environ.get("TRACKER_THREADS", "2"))
        procs.append(tracker)
        req = urllib.request.Request("http://127.0.0.1:%d/api/v1/publish" % tport, json.dumps(body).encode(),
                                     {"Content-Type": "application/json"})
        assert json.loads(urllib.request.urlopen(req).read())["status"] == "created"

        with open(os.path.join(work, "whitelist.txt"), "w") as f:
            f.write(key_hex + "\n")
        oport = free_port()
        ot = subprocess.Popen(["opentracker", "-i", "127.0.0.1", "-p", str(oport), "-P", str(oport), "-w",
                               os.path.join(work, "whitelist.txt"), "-d", work], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
        procs.append(ot)
        time.sleep(0.5)

        script = os.path.join(work, "announce.lua")
        announce_script(script, bytes.fromhex(key_hex), 5000)
        # warm both swarms up to 5,000 peers
        wrk("http://127.0.0.1:%d" % tport, script, 64, 3)
        wrk("http://127.0.0.1:%d" % oport, script, 64, 3)
        ours, theirs = [], []
        for _ in range(ROUNDS):
            rps, _, err, out = wrk("http://127.0.0.1:%d" % tport, script, 64, SECONDS)
            assert err == 0, out
            ours.append(rps)
            rps, _, err, out = wrk("http://127.0.0.1:%d" % oport, script, 64, SECONDS)
            theirs.append(rps)
        a_ours, a_theirs = statistics.median(ours), statistics.median(theirs)
        # The same with a new connection per announce (opentracker closes after each answer anyway).
        close_script = os.path.join(work, "announce_close.lua")
        announce_script(close_script, bytes.fromhex(key_hex), 5000, close=True)
        ours_c, theirs_c = [], []
        for _ in range(ROUNDS):
            ours_c.append(wrk("http://127.0.0.1:%d" % tport, close_script, 64, SECONDS)[0])
            theirs_c.append(wrk("http://127.0.0.1:%d" % oport, close_script, 64, SECONDS)[0])
        c_ours, c_theirs = statistics.median(ours_c), statistics.median(theirs_c)
        stop(tracker)
        procs.remove(tracker)

        # B. 10,000 torrents in the database (rows written directly; lookups read them).
        con = sqlite3.connect(db)
        cur = con.cursor()
        for i in range(10000):
            h = "%064x" % (i + 1)
            cur.execute("INSERT INTO torrents (repo_type, repo_id, revision, name, info_hash, announce_key, "
                        "total_size, file_count, piece_length, torrent_data, created_at) VALUES "
                        "('model', ?, ?, ?, ?, ?, 1, 1, 262144, x'00', '2026-01-01T00:00:00Z')",
                        ("org/repo-%d" % i, "%040x" % i, "%040x" % i, h, "%040x" % (i + 1)))
            cur.execute("INSERT INTO files (torrent_id, idx, path, size) VALUES (?, 0, 'model.bin', 1)",
                        (cur.lastrowid,))
        con.commit()
        con.close()
        tracker, tport = start_tracker(work, db, "--announce-rate", "0", "--trust-proxy", "--threads", "2")
        procs.append(tracker)
        lookup = os.path.join(work, "lookup.lua")
        with open(lookup, "w") as f:
            f.write("""
local counter = 0
request = function()
  counter = counter + 1
  local i = counter % 10000
  return wrk.format("GET", "/api/v1/torrents?repo_id=org/repo-" .. i .. "&repo_type=model")
end
""")
        lookup_rps, p99, err, out = wrk("http://127.0.0.1:%d" % tport, lookup, 16, SECONDS, latency=True)
        assert err == 0, out

        # C. 100,000 live peers (distinct 127.x.y.z addresses through ip= with --trust-proxy).
        many = os.path.join(work, "many.lua")
        announce_script(many, bytes.fromhex(key_hex), 100000, ip_param=True)
        rss_before = rss_mib(tracker.pid)
        wrk("http://127.0.0.1:%d" % tport, many, 64, max(SECONDS, 15))
        enc = "".join("%%%02X" % b for b in bytes.fromhex(key_hex))
        scrape = urllib.request.urlopen("http://127.0.0.1:%d/scrape?info_hash=%s" % (tport, enc)).read()
        d = lt.bdecode(scrape)[b"files"][bytes.fromhex(key_hex)]
        live = d[b"complete"] + d[b"incomplete"]
        rss_after = rss_mib(tracker.pid)

        print()
        print("results (median of %d x %d s, loopback, 2 cores shared with wrk):" % (ROUNDS, SECONDS))
        print("  A. announce, 64 conns, 5,000 peers: llmpt-tracker %.0f req/s, opentracker %.0f req/s"
              % (a_ours, a_theirs))
        print("     ratio llmpt-tracker/opentracker = %.2f (goal >= 1.0)" % (a_ours / a_theirs))
        print("     rounds: ours %s, opentracker %s" % ([round(x) for x in ours], [round(x) for x in theirs]))
        print("  A2. same, a new connection per announce: llmpt-tracker %.0f req/s, opentracker %.0f req/s,"
              " ratio %.2f" % (c_ours, c_theirs, c_ours / c_theirs))
        print("  B. GET /api/v1/torrents, 10,000 torrents: p99 %.2f ms (goal < 5), %.0f req/s" % (p99, lookup_rps))
        print("  C. %d live peers: RSS %.1f MiB (before %.1f MiB) (goal < 200)" % (live, rss_after, rss_before))
    finally:
        for p in procs:
            p.kill()
            p.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
