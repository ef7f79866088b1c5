"""A finished `llmpt download` keeps the swarm whole: it serves peers that
still need the snapshot for up to --seed-time seconds and leaves once none
is left; with a daemon serving the cache it leaves at once and the daemon
seeds."""

import json
import os
import signal
import subprocess
import tempfile
import time
import unittest

from harness import LLMPT, Serve, TestCase, import_repo, run
from p2p_harness import SlowLeecher
from test_daemon import DaemonCase, wait_for
from test_seed import Seed
from tracker_harness import Tracker, http

BIG = os.urandom(4 * 1024 * 1024 + 9)
FILES = {"config.json": b'{"a": 1}\n', "model.safetensors": BIG}
TOTAL = sum(map(len, FILES.values()))


class SeedTimeTest(TestCase):
    def setUp(self):
        super().setUp()
        self.commit = import_repo(self.path("hub"), "org/m", FILES)
        import_repo(self.path("seed"), "org/m", FILES)
        self.hub = Serve(self.path("hub"))
        self.addCleanup(self.hub.stop)
        self.tracker = Tracker(self.path("t.db"))
        self.addCleanup(self.tracker.stop)

    def start_download(self, cache, *extra, env=None):
        err = tempfile.TemporaryFile(mode="w+")
        p = subprocess.Popen([LLMPT, "download", "org/m", "--endpoint", self.hub.url, "--cache-dir", cache, "--json",
                              "--tracker", self.tracker.url, "--listen", "127.0.0.1:0", "--no-webseed"] + list(extra),
                             stdout=subprocess.PIPE, stderr=err, text=True,
                             env=dict(os.environ, HF_HOME="/nonexistent-hf-home", **(env or {})))
        return p, err

    def torrent(self):
        return http(self.tracker.url + "/api/v1/torrents/torrent?repo_id=org/m&revision=" + self.commit)[2]

    def test_a_finished_download_serves_a_late_leecher_then_leaves(self):
        s = Seed(self.path("seed"), self.tracker.url)
        slow = SlowLeecher(self.torrent(), self.path("slow"), self.tracker.url)  # someone still downloading
        try:
            a, a_err = self.start_download(self.path("a"), "--seed-time", "120")
            first = json.loads(a.stdout.readline())  # the result comes first; then it seeds
            self.assertEqual(first["bytes_p2p"], TOTAL)
            s.stop()  # the only seeder leaves: A is the snapshot's source now
            b, b_err = self.start_download(self.path("b"), "--seed-time", "0")
            out, _ = b.communicate(timeout=120)
            self.assertEqual(b.returncode, 0)
            self.assertEqual(json.loads(out)["bytes_p2p"], TOTAL)  # from A (and the slow leecher)
            self.assertEqual(a.poll(), None)  # the slow leecher still needs it
            slow.stop()
            t0 = time.monotonic()
            a.wait(30)  # nobody needs it any more: A leaves well before its 120 s
            self.assertLess(time.monotonic() - t0, 15)
            self.assertEqual(a.returncode, 0)
            a_err.seek(0)
            log = a_err.read()
            self.assertIn("seeding for up to 120 s", log)
            uploaded = int(log.split("uploaded ")[-1].split()[0])
            self.assertGreater(uploaded, TOTAL // 2, log)
        finally:
            for p in ("a", "b"):
                proc = locals().get(p)
                if proc and proc.poll() is None:
                    proc.kill()
                    proc.wait(10)
            s.stop()

    def test_the_download_goes_on_seeding_with_its_peers_connected(self):
        # The download's torrent is not removed and added anew when it
        # completes: the peers that were downloading from it stay connected.
        s = Seed(self.path("seed"), self.tracker.url)
        slow = SlowLeecher(self.torrent(), self.path("slow"), self.tracker.url)  # still downloading
        log = self.path("p2p.log")
        a = None
        try:
            a, a_err = self.start_download(self.path("a"), "--seed-time", "120", env={"LLMPT_P2P_LOG": log})
            self.assertEqual(json.loads(a.stdout.readline())["bytes_p2p"], TOTAL)
            wait_for("A to seed", lambda: (a_err.seek(0), "seeding for up to" in a_err.read())[1])
            slow.stop()
            a.wait(30)  # nobody needs it any more
            self.assertEqual(a.returncode, 0)
            a_err.seek(0)
            text = a_err.read()
            self.assertRegex(text, r"still connected to [1-9]\d* peers", text)
            with open(log) as f:
                added = [line for line in f if " add_torrent: " in line]
            self.assertEqual(len(added), 1, added)  # one torrent from the download's start to its end
        finally:
            if a and a.poll() is None:
                a.kill()
                a.wait(10)
            slow.stop()
            s.stop()

    def test_seed_time_bounds_the_wait(self):
        s = Seed(self.path("seed"), self.tracker.url)
        slow = SlowLeecher(self.torrent(), self.path("slow"), self.tracker.url, rate=16 * 1024)
        try:
            a, a_err = self.start_download(self.path("a"), "--seed-time", "3")
            out = json.loads(a.stdout.readline())
            self.assertEqual(out["bytes_p2p"], TOTAL)
            t0 = time.monotonic()
            a.wait(30)
            self.assertLess(time.monotonic() - t0, 8)  # 3 s, though the slow leecher still wants it
            self.assertEqual(a.returncode, 0)
            # --seed-time 0 leaves at once.
            t0 = time.monotonic()
            p = run(["download", "org/m", "--endpoint", self.hub.url, "--cache-dir", self.path("c"), "--json",
                     "--tracker", self.tracker.url, "--listen", "127.0.0.1:0", "--seed-time", "0", "--no-webseed"])
            self.assertExit(p, 0)
            self.assertNotIn("seeding for up to", p.stderr)
        finally:
            slow.stop()
            s.stop()


class DaemonSeedTimeTest(DaemonCase):
    def test_with_a_daemon_the_download_leaves_at_once_and_the_daemon_seeds(self):
        commit = import_repo(self.path("hub"), "org/m", FILES)
        import_repo(self.path("seed"), "org/m", FILES)
        with Serve(self.path("hub")) as hub, Tracker(self.path("t.db")) as t:
            s = Seed(self.path("seed"), t.url)
            try:
                self.start(t.url)
                t0 = time.monotonic()
                p = run(["download", "org/m", "--endpoint", hub.url, "--cache-dir", self.cache, "--json", "--tracker",
                         t.url, "--listen", "127.0.0.1:0", "--no-webseed", "--in-process", "--seed-time", "120"],
                        env=self.env)
                self.assertExit(p, 0)
                self.assertLess(time.monotonic() - t0, 30)
                self.assertIn("the daemon serving this cache seeds it", p.stderr)
                wait_for("the daemon to seed it", lambda: ("seeding model org/m@" + commit) in self.log())
            finally:
                s.stop()


if __name__ == "__main__":
    unittest.main()
