"""A swarm on loopback addresses, each llmpt process on its own 127.0.0.x:
leechers trade among themselves instead of all taking every piece from the
seeder, the Hub serves no file while a complete seeder is there, and a
late leecher completes from partial peers after the only seeder left."""

import json
import os
import re
import signal
import subprocess
import tempfile
import time
import unittest

from harness import LLMPT, Serve, TestCase, import_repo, read_line, run, stop_process
from tracker_harness import Tracker

BIG = os.urandom(8 * 1024 * 1024 + 3)
FILES = {"config.json": b'{"a": 1}\n', "model-00001.safetensors": BIG[:4 << 20],
         "model-00002.safetensors": BIG[4 << 20:]}
TOTAL = sum(map(len, FILES.values()))
SEED_RATE = 2 << 20  # the seeder's upload, so that a swarm has time to form


class SwarmTest(TestCase):
    def setUp(self):
        super().setUp()
        self.commit = import_repo(self.path("hub"), "org/m", FILES)
        import_repo(self.path("seed"), "org/m", FILES)
        self.hub = Serve(self.path("hub"))
        self.addCleanup(self.hub.stop)
        self.tracker = Tracker(self.path("t.db"))
        self.addCleanup(self.tracker.stop)
        self.procs = []
        self.addCleanup(self.kill_all)

    def kill_all(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait(10)

    def seed(self, host):
        err = tempfile.TemporaryFile(mode="w+")
        p = subprocess.Popen([LLMPT, "seed", "org/m", "--cache-dir", self.path("seed"), "--tracker", self.tracker.url,
                              "--listen", host + ":0", "--max-upload-rate", str(SEED_RATE)],
                             stdout=subprocess.PIPE, stderr=err, text=True)
        self.procs.append(p)
        self.assertTrue(read_line(p.stdout, 60).startswith("seeding"))
        return p, err

    def leech(self, host, name, *extra):
        p = subprocess.Popen([LLMPT, "download", "org/m", "--endpoint", self.hub.url, "--cache-dir", self.path(name),
                              "--json", "--tracker", self.tracker.url, "--listen", host + ":0"] + list(extra),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=dict(os.environ, HF_HOME="/nonexistent-hf-home"))
        self.procs.append(p)
        return p

    def finish(self, p, name):
        out, err = p.communicate(timeout=180)
        self.assertEqual(p.returncode, 0, err)
        self.assertExit(run(["verify", "org/m", "--cache-dir", self.path(name)]), 0)
        r = json.loads(out.splitlines()[0])
        r["stderr"] = err  # for the messages of failed assertions
        return r

    def resolve_bytes(self):
        """Bytes of file bodies llmpt serve sent (its request log)."""
        total = 0
        for line in self.hub.requests():
            m = re.search(r" GET \S*/resolve/\S* (\d+) (\d+)", line)
            if m and m.group(1) in ("200", "206"):
                total += int(m.group(2))
        return total

    def test_leechers_trade_and_the_hub_serves_nothing(self):
        seeder, seed_err = self.seed("127.0.0.10")
        leechers = [self.leech("127.0.0.%d" % (11 + i), "c%d" % i) for i in range(4)]
        results = [self.finish(p, "c%d" % i) for i, p in enumerate(leechers)]
        stop_process(seeder, signal.SIGINT, 20)
        seed_err.seek(0)
        uploaded = int(re.search(r"uploaded (\d+) bytes", seed_err.read()).group(1))
        received = sum(r["bytes_p2p"] for r in results)
        self.assertEqual(received, 4 * TOTAL, [{k: v for k, v in r.items() if k.startswith("bytes") or k == "stderr"} for r in results])
        self.assertEqual(sum(r["bytes_http"] + r["bytes_webseed"] for r in results), 0)
        # The seeder gave clearly less than the leechers received: they traded.
        self.assertLess(uploaded, 0.6 * received, "seeder uploaded %d of %d" % (uploaded, received))
        self.assertEqual(self.resolve_bytes(), 0)

    def test_a_late_leecher_completes_from_partial_peers_after_the_seeder_left(self):
        seeder, seed_err = self.seed("127.0.0.20")
        # Two early leechers that take their time, so they are still partial
        # when the seeder goes.
        early = [self.leech("127.0.0.%d" % (21 + i), "e%d" % i, "--seed-time", "120", "--no-webseed",
                            "--max-download-rate", "1M") for i in range(2)]
        # Until they hold about 1.3 copies and every byte between them (the
        # seeder handed each piece out about once), then the seeder is gone.
        def held(i):
            have = 0
            repo = os.path.join(self.path("e%d" % i), "models--org--m")
            for sub in ("blobs", os.path.join(".llmpt", "staging")):
                for d, _, fs in os.walk(os.path.join(repo, sub)):
                    for f in fs:  # blocks, not sizes: pieces come in any order, so files have holes
                        try:
                            have += os.stat(os.path.join(d, f)).st_blocks * 512
                        except FileNotFoundError:
                            pass  # placed meanwhile
            return have

        def extents(path):
            """The written (data) ranges of a sparse staging file."""
            out = []
            try:
                fd = os.open(path, os.O_RDONLY)
            except FileNotFoundError:
                return out
            try:
                size, at = os.fstat(fd).st_size, 0
                while at < size:
                    try:
                        start = os.lseek(fd, at, os.SEEK_DATA)
                    except OSError:  # ENXIO: no data after `at`
                        break
                    at = os.lseek(fd, start, os.SEEK_HOLE)
                    out.append((start, at))
            finally:
                os.close(fd)
            return out

        def covered():
            """Whether the two hold every byte between them: only then can a
            late leecher complete from them alone."""
            for path, data in FILES.items():
                ranges = []
                for i in range(2):
                    repo = os.path.join(self.path("e%d" % i), "models--org--m")
                    if os.path.exists(os.path.join(repo, "snapshots", self.commit, path)):
                        ranges.append((0, len(data)))
                    ranges += extents(os.path.join(repo, ".llmpt", "staging", self.commit, path))
                reach = 0
                for start, end in sorted(ranges):
                    if start > reach:
                        return False
                    reach = max(reach, end)
                if reach < len(data):
                    return False
            return True

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            time.sleep(0.1)
            if held(0) + held(1) >= 1.3 * TOTAL and covered():
                break
        stop_process(seeder, signal.SIGKILL)
        # --max-download-rate holds for loopback peers too (libtorrent exempts
        # local peers unless told otherwise): both are still partial.
        self.assertTrue(all(held(i) < TOTAL for i in range(2)), [held(i) for i in range(2)])
        self.assertTrue(all(p.poll() is None for p in early), "an early leecher finished before the seeder left")
        late = self.leech("127.0.0.29", "late", "--seed-time", "0", "--no-webseed")
        r = self.finish(late, "late")
        # From the partial peers; should they lack a piece, HTTP fills it.
        self.assertGreaterEqual(r["bytes_p2p"], 0.9 * TOTAL, r["stderr"])
        self.assertEqual(r["bytes_p2p"] + r["bytes_http"], TOTAL)
        for i, p in enumerate(early):
            e = self.finish(p, "e%d" % i)
            self.assertEqual(e["bytes_p2p"] + e["bytes_http"], TOTAL)

if __name__ == "__main__":
    unittest.main()
