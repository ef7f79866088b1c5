#!/usr/bin/env python3
"""The swarm testbed (bench/swarm.sh runs this; root). Hosts are network
namespaces of our own joined by veth pairs to one Linux bridge, every link
shaped with `tc tbf` in both directions:

    origin  10.77.0.1      `llmpt serve` (the Hub) behind a WAN-rate link
    bridge  10.77.0.254    the LAN itself; `llmpt-tracker` listens here
    node i  10.77.0.(10+i) `llmpt download` / `seed` / `daemon`, LAN-rate links

Scenarios (each starts from empty node caches but the seeders'):
    http       every node `--no-p2p`, at once
    warm       node 1 seeds (`llmpt seed`), the others download at once
    staggered  node 1 seeds, the others start --stagger seconds apart
    churn      nodes 1 and 2 seed; mid-transfer node 2's seeder and one
               leecher are killed (-9); the others must finish
    daemon     every node runs `llmpt daemon`; node 1's cache has the repo;
               the others `llmpt download` through their daemon
    cold       nobody has the repo; every node downloads at once (the
               cohort: each fetches a share from the origin, then they trade)

Each run prints per node: start offset, time (from its launch until the
command exited, seeding for the others included), ready (from its launch
until it printed its result: the snapshot is in its cache, as a script
piping the result sees it), bytes by source, upload (from
its link's own counter) and CPU seconds; then p50 / slowest and the origin's
egress in repo copies, read from the origin link's qdisc counter, not from
what the clients believe. Every cache is verified.

    bench/swarm.sh --nodes 8 --lan 200mbit --wan 100mbit --scenario warm
"""

import argparse
import json
import os
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

NET = "10.77.0"
BRIDGE_IP = NET + ".254"
ORIGIN_IP = NET + ".1"


def sh(*args, check=True, **kw):
    return subprocess.run(list(args), check=check, capture_output=True, text=True, **kw)


def rate_bytes(rate):
    """'200mbit' -> bytes per second."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(k|m|g)?bit", rate)
    if not m:
        raise SystemExit("rates look like 200mbit or 1gbit, not %r" % rate)
    return float(m.group(1)) * {None: 1, "k": 1e3, "m": 1e6, "g": 1e9}[m.group(2)] / 8


class Testbed:
    """The namespaces, veth pairs, bridge and shaping; removed on close()."""

    def __init__(self, tag, nodes, lan, wan, burst):
        self.tag, self.nodes, self.lan, self.wan, self.burst = tag, nodes, lan, wan, burst
        self.br = "%s-br" % tag
        self.hosts = {"origin": (ORIGIN_IP, wan)}
        for i in range(1, nodes + 1):
            self.hosts["n%d" % i] = ("%s.%d" % (NET, 10 + i), lan)
        self.made = []

    def ns(self, host):
        return self.br if host == "bridge" else "%s-%s" % (self.tag, host)

    def up(self):
        sh("ip", "netns", "add", self.br)
        self.made.append(self.br)
        sh("ip", "-n", self.br, "link", "set", "lo", "up")
        sh("ip", "-n", self.br, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", self.br, "addr", "add", BRIDGE_IP + "/24", "dev", "br0")
        sh("ip", "-n", self.br, "link", "set", "br0", "up")
        for k, (host, (ip, rate)) in enumerate(self.hosts.items()):
            ns = self.ns(host)
            sh("ip", "netns", "add", ns)
            self.made.append(ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
            peer = "vb%d" % k
            sh("ip", "link", "add", "%s-e%d" % (self.tag[-6:], k), "type", "veth", "peer", "name", "%s-b%d" % (self.tag[-6:], k))
            sh("ip", "link", "set", "%s-e%d" % (self.tag[-6:], k), "netns", ns)
            sh("ip", "-n", ns, "link", "set", "%s-e%d" % (self.tag[-6:], k), "name", "eth0")
            sh("ip", "link", "set", "%s-b%d" % (self.tag[-6:], k), "netns", self.br)
            sh("ip", "-n", self.br, "link", "set", "%s-b%d" % (self.tag[-6:], k), "name", peer)
            sh("ip", "-n", ns, "addr", "add", ip + "/24", "dev", "eth0")
            sh("ip", "-n", ns, "link", "set", "eth0", "up")
            sh("ip", "-n", self.br, "link", "set", peer, "master", "br0")
            sh("ip", "-n", self.br, "link", "set", peer, "up")
            # Upload: the host's egress; download: the bridge port's egress.
            for where, dev in ((ns, "eth0"), (self.br, peer)):
                sh("tc", "-n", where, "qdisc", "replace", "dev", dev, "root", "tbf", "rate", rate,
                   "burst", self.burst, "latency", "50ms")
            self.hosts[host] = (ip, rate, peer)

    def sent(self, host, what="bytes"):
        """Bytes (or packets) the host has sent on its link (its qdisc's own counter)."""
        out = sh("tc", "-s", "-j", "-n", self.ns(host), "qdisc", "show", "dev", "eth0").stdout
        return sum(q.get(what, 0) for q in json.loads(out) if q.get("kind") == "tbf")

    def sent_all(self):
        """Bytes each host has sent: what its bridge port received (one call)."""
        out = sh("ip", "-n", self.br, "-s", "-j", "link", "show").stdout
        by_dev = {l.get("ifname"): l.get("stats64", {}).get("rx", {}).get("bytes", 0) for l in json.loads(out)}
        return {h: by_dev.get(v[2], 0) for h, v in self.hosts.items()}

    def received(self):
        """Bytes each host has received: what its bridge port sent it."""
        out = sh("tc", "-s", "-j", "-n", self.br, "qdisc", "show").stdout
        by_dev = {q.get("dev"): q.get("bytes", 0) for q in json.loads(out) if q.get("kind") == "tbf"}
        return {h: by_dev.get(v[2], 0) for h, v in self.hosts.items()}

    def close(self):
        for ns in reversed(self.made):
            sh("ip", "netns", "pids", ns, check=False)
            for pid in sh("ip", "netns", "pids", ns, check=False).stdout.split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except OSError:
                    pass
            sh("ip", "netns", "del", ns, check=False)


def make_repo(src, size_mib, shards):
    os.makedirs(src, exist_ok=True)
    per = (size_mib << 20) // shards
    for i in range(shards):
        with open(os.path.join(src, "model-%05d-of-%05d.safetensors" % (i + 1, shards)), "wb") as f:
            left = per
            while left:
                n = min(left, 4 << 20)
                f.write(os.urandom(n))
                left -= n
    with open(os.path.join(src, "config.json"), "w") as f:
        f.write('{"model_type": "bench", "shards": %d}\n' % shards)


class Output:
    """A download's stdout, read as it comes: the time its first line (the
    result: the snapshot is in the cache) arrived, and the whole text."""

    def __init__(self, pipe):
        import threading
        self.first_at = None
        self.lines = []
        self.thread = threading.Thread(target=self._read, args=(pipe,))
        self.thread.start()

    def _read(self, pipe):
        for line in pipe:
            if self.first_at is None and line.strip():
                self.first_at = time.monotonic()
            self.lines.append(line)

    def text(self):
        self.thread.join()
        return "".join(self.lines)


def cpu_of(pid):
    """User + system CPU seconds of a live process."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Bench:
    def __init__(self, a):
        self.a = a
        self.bin = os.path.realpath(a.bin)
        self.llmpt = os.path.join(self.bin, "llmpt")
        self.work = tempfile.mkdtemp(prefix="llmpt-swarm-", dir=os.environ.get("BENCH_DIR", "/var/tmp"))
        self.tb = Testbed("lsw%d" % os.getpid(), a.nodes, a.lan, a.wan, a.burst)
        self.servers = []
        self.repo_bytes = 0

    def run_in(self, host, args, **kw):
        return subprocess.Popen(["ip", "netns", "exec", self.tb.ns(host)] + args, **kw)

    def start_server(self, host, args, name):
        out = open(os.path.join(self.work, name + ".out"), "w+")
        p = self.run_in(host, args, stdout=out, stderr=subprocess.STDOUT, text=True)
        self.servers.append(p)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            out.seek(0)
            m = re.search(r"listening on (http://\S+)", out.read())
            if m:
                return m.group(1), p
            if p.poll() is not None:
                break
            time.sleep(0.05)
        out.seek(0)
        raise SystemExit("%s did not start: %s" % (name, out.read()))

    def setup(self):
        a = self.a
        print("== testbed: origin at %s (%s), tracker on the bridge %s, %d nodes at %s each way"
              % (ORIGIN_IP, a.wan, BRIDGE_IP, a.nodes, a.lan))
        self.tb.up()
        src = os.path.join(self.work, "src")
        make_repo(src, a.size_mib, a.shards)
        self.repo_bytes = sum(os.path.getsize(os.path.join(src, f)) for f in os.listdir(src))
        self.hub = os.path.join(self.work, "hub")
        sh(self.llmpt, "cache", "import", src, "--repo", "bench/m", "--cache-dir", self.hub)
        self.src = src
        self.endpoint, _ = self.start_server("origin", [self.llmpt, "serve", "--cache-dir", self.hub, "--listen",
                                                        ORIGIN_IP + ":0", "--quiet"], "serve")

    def fresh_tracker(self, name):
        # Each scenario starts with a tracker that knows nothing: a cold run
        # after another one would otherwise find the torrent already there.
        old = getattr(self, "tracker_proc", None)
        if old is not None:
            old.send_signal(signal.SIGINT)
            try:
                old.wait(10)
            except subprocess.TimeoutExpired:
                old.kill()
            self.servers.remove(old)
        self.runs = getattr(self, "runs", 0) + 1
        tag = "tracker-%d-%s" % (self.runs, name)
        self.tracker, self.tracker_proc = self.start_server(
            "bridge", [os.path.join(self.bin, "llmpt-tracker"), "--listen", BRIDGE_IP + ":0", "--db",
                       os.path.join(self.work, tag + ".db"), "--quiet"], tag)

    def node_cache(self, i):
        return os.path.join(self.work, "node%d" % i)

    def fresh(self, i, with_repo=False):
        shutil.rmtree(self.node_cache(i), ignore_errors=True)
        if with_repo:
            sh(self.llmpt, "cache", "import", self.src, "--repo", "bench/m", "--cache-dir", self.node_cache(i))

    def env(self, extra):
        env = dict(os.environ)
        for kv in extra:
            k, _, v = kv.partition("=")
            env[k] = v
        return env

    def seed(self, i):
        p = self.run_in("n%d" % i, [self.llmpt, "seed", "bench/m", "--cache-dir", self.node_cache(i), "--tracker",
                                    self.tracker, "--listen", "0.0.0.0:6881"] + self.a.seed_args,
                        stdout=subprocess.PIPE, stderr=open(os.path.join(self.work, "seed%d.err" % i), "w"), text=True,
                        env=self.env(self.a.seed_env))
        line = p.stdout.readline()
        if not line.startswith("seeding"):
            raise SystemExit("seeder on node %d did not start: %r" % (i, line))
        return p

    def download_args(self, i, p2p=True):
        args = [self.llmpt, "download", "bench/m", "--endpoint", self.endpoint, "--cache-dir", self.node_cache(i),
                "--json", "--quiet"]
        if p2p:
            args += ["--tracker", self.tracker, "--listen", "0.0.0.0:6881"] + self.a.download_args
        else:
            args += ["--no-p2p"]
        return args

    def start_download(self, i, p2p=True, daemon=False):
        args = self.download_args(i, p2p)
        if not daemon:
            args.insert(args.index("--json"), "--in-process")
        timed = ["/usr/bin/time", "-f", "cpu %U %S", "-o", os.path.join(self.work, "cpu%d" % i)] + args
        if self.a.wrap and (self.a.wrap_node == 0 or self.a.wrap_node == i):
            timed = shlex.split(self.a.wrap.replace("{node}", str(i))) + timed
        p = self.run_in("n%d" % i, timed, stdout=subprocess.PIPE, text=True,
                        stderr=open(os.path.join(self.work, "dl%d.err" % i), "w"), env=self.env(self.a.download_env))
        return p, Output(p.stdout)

    def counters(self):
        got = {h: self.tb.sent(h) for h in self.tb.hosts}
        got.update({h + ":packets": self.tb.sent(h, "packets") for h in self.tb.hosts})
        return got

    def wait_all(self, running):
        # Every node's end as it happens, from a waiter thread each: waiting
        # in turn would date a node that ended early by the ones before it.
        import threading
        ends = {}

        def wait(i, p):
            try:
                code = p.wait(self.a.timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                code = p.wait()
            ends[i] = (code, time.monotonic())
        threads = [threading.Thread(target=wait, args=(i, p)) for i, (p, _, _) in running.items()]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return ends

    def collect(self, i, out, t0, started, code, end):
        # After every node ended: the caches are verified here, not while
        # others still run.
        text = out.text()
        r = {"node": i, "start": started - t0, "end": end - t0, "exit": code,
             "done": (out.first_at or end) - started}
        try:
            r.update(json.loads(text.strip().splitlines()[-1]))
        except (ValueError, IndexError):
            r["error"] = text[-300:]
        try:
            with open(os.path.join(self.work, "cpu%d" % i)) as f:
                m = re.search(r"cpu ([\d.]+) ([\d.]+)", f.read())
                r["cpu"] = float(m.group(1)) + float(m.group(2))
        except (OSError, AttributeError):
            r["cpu"] = float("nan")
        v = sh(self.llmpt, "verify", "bench/m", "--cache-dir", self.node_cache(i), check=False)
        r["verified"] = v.returncode == 0
        return r

    def run_scenario(self, name):
        a = self.a
        n = a.nodes
        seeders, leechers, kill_at, daemons = [], [], None, {}
        self.fresh_tracker(name)
        for i in range(1, n + 1):
            self.fresh(i, with_repo=(name in ("warm", "staggered", "daemon") and i == 1) or (name == "churn" and i <= 2))
        if name in ("warm", "staggered"):
            seeders = [1]
        elif name == "churn":
            seeders = [1, 2]
        leechers = [i for i in range(1, n + 1) if i not in seeders and not (name == "daemon" and i == 1)]
        seed_procs = {i: self.seed(i) for i in seeders}
        if name == "daemon":
            for i in range(1, n + 1):
                env = dict(os.environ, XDG_RUNTIME_DIR=os.path.join(self.work, "run%d" % i))
                os.makedirs(env["XDG_RUNTIME_DIR"], mode=0o700, exist_ok=True)
                d = self.run_in("n%d" % i, [self.llmpt, "daemon", "start", "--foreground", "--cache-dir",
                                            self.node_cache(i), "--tracker", self.tracker, "--listen", "0.0.0.0:6881",
                                            "--scan-interval", "1", "--log-file",
                                            os.path.join(self.work, "daemon%d.log" % i)], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                daemons[i] = (d, env)
            deadline = time.monotonic() + 60
            log1 = os.path.join(self.work, "daemon1.log")
            while time.monotonic() < deadline:
                if os.path.exists(log1) and "publish" in open(log1).read() and all(
                        os.path.exists(os.path.join(self.work, "daemon%d.log" % i)) for i in range(1, n + 1)):
                    break
                time.sleep(0.1)
            time.sleep(1)
        time.sleep(0.5)
        before = self.counters()
        cpu_before = {i: cpu_of(d.pid) for i, (d, _) in daemons.items()}
        t0 = time.monotonic()
        running = {}
        for k, i in enumerate(leechers):
            if name == "staggered" and k:
                time.sleep(a.stagger)
            if name == "daemon":
                env = daemons[i][1]
                p = subprocess.Popen(["ip", "netns", "exec", self.tb.ns("n%d" % i)] + self.download_args(i),
                                     stdout=subprocess.PIPE, text=True,
                                     stderr=open(os.path.join(self.work, "dl%d.err" % i), "w"), env=env)
                out = Output(p.stdout)
            else:
                p, out = self.start_download(i, p2p=(name != "http"))
            running[i] = (p, out, time.monotonic())
        timeline = []
        if a.timeline:
            import threading
            stop_tl = threading.Event()

            def sample():
                while not stop_tl.is_set():
                    got = self.tb.received()
                    for h, v in self.tb.sent_all().items():  # what each host sent, as "up<i>"
                        got["up" + h[1:]] = v
                    timeline.append((time.monotonic() - t0, got))
                    stop_tl.wait(a.timeline)
            sampler = threading.Thread(target=sample)
            sampler.start()
        killed = []
        if name == "churn":
            time.sleep(a.churn_after)
            victim = leechers[0]
            for proc in (seed_procs[2], running[victim][0]):
                proc.send_signal(signal.SIGKILL)
            killed = [2, victim]
        ends = self.wait_all(running)
        after = self.counters()
        results = [self.collect(i, out, t0, started, *ends[i])
                   for i, (_, out, started) in running.items() if i not in killed]
        if a.timeline:
            stop_tl.set()
            sampler.join()
            hosts = ["n%d" % i for i in leechers] + ["up%d" % i for i in seeders + (leechers if a.timeline_up else [])]
            print("   MB/s received, per %.2f s:  t  %s" % (a.timeline, " ".join("%5s" % h for h in hosts)))
            for (ta, ra), (tb, rb) in zip(timeline, timeline[1:]):
                print("   %6.2f  %s" % (tb, " ".join("%5.1f" % ((rb[h] - ra[h]) / (tb - ta) / 1e6) for h in hosts)))
        for i, (d, _) in daemons.items():
            results_cpu = cpu_of(d.pid) - cpu_before[i]
            for r in results:
                if r["node"] == i:
                    r["cpu"] = results_cpu
        seed_cpu = {}
        for i, p in seed_procs.items():
            if p.poll() is None:
                seed_cpu[i] = cpu_of(p.pid)
                p.send_signal(signal.SIGINT)
                p.wait(30)
        self.seed_cpu = seed_cpu
        for i, (d, env) in daemons.items():
            d.send_signal(signal.SIGTERM)
            d.wait(30)
        sent = {h: after[h] - before[h] for h in after}
        return self.report(name, results, sent, seeders, killed)

    def report(self, name, results, sent, seeders, killed):
        copies = lambda b: b / self.repo_bytes
        mib = lambda b: b / (1 << 20)
        print("\n== %s: %d nodes, LAN %s, WAN %s, %.0f MiB in %d shards + config%s" %
              (name, self.a.nodes, self.a.lan, self.a.wan, mib(self.repo_bytes), self.a.shards,
               (", killed: seeder 2 and node %d" % killed[1]) if killed else ""))
        # time: from the launch until the command exited (seeding for others
        # included); ready: until it printed its result (the snapshot in its
        # cache), as the bench saw the line arrive.
        print("   node  start    time  ready  exit   p2p MiB  webseed MiB  http MiB (share)  upload (copies)   cpu s")
        for r in sorted(results, key=lambda r: r["node"]):
            dur = r["end"] - r["start"]
            print("   %4d %6.2f %7.2f %6.2f %5s %9.1f %12.1f %9.1f %7.1f %16.2f %7.2f%s" % (
                r["node"], r["start"], dur, r["done"], r["exit"],
                mib(r.get("bytes_p2p", 0)), mib(r.get("bytes_webseed", 0)),
                mib(r.get("bytes_http", 0)), mib(r.get("bytes_share", 0)), copies(sent["n%d" % r["node"]]), r["cpu"],
                "" if r["verified"] else "  NOT VERIFIED " + r.get("error", "")))
        for s in seeders:
            cpu = getattr(self, "seed_cpu", {}).get(s)
            packets = sent["n%d:packets" % s]
            print("   seeder %d uploaded %.2f copies in %d packets (%.0f bytes each)%s" % (
                s, copies(sent["n%d" % s]), packets, sent["n%d" % s] / max(packets, 1),
                "" if cpu is None else ", %.2f cpu s in all" % cpu))
        times = [r["end"] - r["start"] for r in results]
        ok = all(r["exit"] == 0 and r["verified"] for r in results)
        summary = {
            "scenario": name, "nodes": self.a.nodes, "lan": self.a.lan, "wan": self.a.wan,
            "p50": statistics.median(times), "slowest": max(times),
            "slowest_ready": max(r["done"] for r in results),
            "origin_copies": copies(sent["origin"]),
            "seeder_copies": [copies(sent["n%d" % s]) for s in seeders],
            "leecher_upload_copies": sum(copies(sent["n%d" % r["node"]]) for r in results),
            "cpu": sum(r["cpu"] for r in results),
            "all_ok": ok,
        }
        lan_rate = rate_bytes(self.a.lan)
        # The rate each node got from its link: its bytes over its time until
        # exit, and until ready (the seeding after its download not counted).
        summary["link_share"] = min(self.repo_bytes / t / lan_rate for t in times)
        summary["link_share_ready"] = min(self.repo_bytes / r["done"] / lan_rate for r in results)
        print("   p50 %.2f s, slowest %.2f s (ready %.2f s), origin egress %.2f copies, leechers uploaded %.2f copies, "
              "slowest node at %.0f%% of its link (%.0f%% until ready), all verified: %s" %
              (summary["p50"], summary["slowest"], summary["slowest_ready"], summary["origin_copies"], summary["leecher_upload_copies"],
               100 * summary["link_share"], 100 * summary["link_share_ready"], "yes" if ok else "NO"))
        if name == "cold":
            # The cold-start goal: about one copy over the WAN, then the
            # swarm: slowest <= 1.3 x (a copy over the WAN) + 2 x (the repo
            # over one LAN link).
            wan_copy = self.repo_bytes / rate_bytes(self.a.wan)
            lan_copy = self.repo_bytes / lan_rate
            summary["goal"] = 1.3 * wan_copy + 2 * lan_copy
            summary["one_wan_copy"] = wan_copy
            print("   one copy over the WAN %.2f s; goal: slowest <= %.2f s (now %.2f x the goal), origin <= 1.1 copies" %
                  (wan_copy, summary["goal"], summary["slowest"] / summary["goal"]))
        print("SUMMARY " + json.dumps(summary))
        return summary

    def close(self):
        for p in self.servers:
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
        self.tb.close()
        if not self.a.keep:
            shutil.rmtree(self.work, ignore_errors=True)
        else:
            print("kept " + self.work)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bin", default="build/bin")
    p.add_argument("--nodes", default="8", help="hosts that download or seed; a comma list runs each in turn "
                                               "and ends with a table of all runs")
    p.add_argument("--lan", default="200mbit", help="each node's link, both ways")
    p.add_argument("--wan", default="100mbit", help="the origin's link, both ways")
    p.add_argument("--burst", default="256kb", help="tc tbf burst")
    p.add_argument("--size-mib", type=int, default=64)
    p.add_argument("--shards", type=int, default=4)
    p.add_argument("--scenario", default="warm", help="http, warm, staggered, churn, daemon, cold, or a comma list")
    p.add_argument("--stagger", type=float, default=0.5, help="seconds between arrivals (staggered)")
    p.add_argument("--churn-after", type=float, default=1.0, help="seconds before the kills (churn)")
    p.add_argument("--timeout", type=float, default=300)
    p.add_argument("--keep", action="store_true", help="keep the work folder")
    p.add_argument("--timeline", type=float, default=0, help="print each node's receive rate every this many seconds")
    p.add_argument("--timeline-up", action="store_true", help="and with --timeline, each leecher's send rate too")
    p.add_argument("--download-arg", dest="download_args", action="append", default=[],
                   help="extra argument for every P2P download (repeatable)")
    p.add_argument("--seed-arg", dest="seed_args", action="append", default=[],
                   help="extra argument for every seeder (repeatable)")
    p.add_argument("--download-env", action="append", default=[], help="NAME=VALUE for every download (repeatable)")
    p.add_argument("--seed-env", action="append", default=[], help="NAME=VALUE for every seeder (repeatable)")
    p.add_argument("--wrap", default="", help="a command the download runs under, for finding where its time goes "
                   "(e.g. 'perf record -g -o /tmp/n{node}.data --'; {node} is the node's number)")
    p.add_argument("--wrap-node", type=int, default=2, help="the node whose download --wrap wraps; 0: every node")
    a = p.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("needs root (network namespaces)")
    try:
        counts = [int(n) for n in a.nodes.split(",")]
    except ValueError:
        raise SystemExit("--nodes is a number or a comma list of numbers, not %r" % a.nodes)
    if any(n < 1 or n > 200 for n in counts):
        raise SystemExit("--nodes must be 1..200")
    scenarios = a.scenario.split(",")
    for s in scenarios:
        if s not in ("http", "warm", "staggered", "churn", "daemon", "cold"):
            raise SystemExit("unknown scenario %r" % s)
    runs = []
    for n in counts:
        a.nodes = n
        b = Bench(a)
        try:
            b.setup()
            for s in scenarios:
                if (s in ("warm", "staggered", "daemon") and n < 2) or (s == "churn" and n < 4):
                    print("\n== %s needs more nodes than %d: skipped" % (s, n))
                    continue
                runs.append(b.run_scenario(s))
        finally:
            b.close()
    if len(counts) > 1 or len(scenarios) > 1:
        print_table(runs)


def print_table(runs):
    """Every run of this invocation, one Markdown row each."""
    print("\n| nodes | scenario | p50 | slowest | slowest ready | link share (ready) | origin (copies) | "
          "seeders (copies) | all verified |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in runs:
        print("| %d | %s | %.2f s | %.2f s | %.2f s | %.0f%% (%.0f%%) | %.2f | %s | %s |" % (
            r["nodes"], r["scenario"], r["p50"], r["slowest"], r["slowest_ready"], 100 * r["link_share"],
            100 * r["link_share_ready"], r["origin_copies"],
            ", ".join("%.2f" % c for c in r["seeder_copies"]) or "-", "yes" if r["all_ok"] else "NO"))


if __name__ == "__main__":
    main()
