"""llmpt daemon: one per cache, seeds and publishes every complete snapshot,
notices new, deleted and changed ones, republishes to a tracker that lost
its data, and answers a control API on a Unix socket (mode 0600)."""

import json
import os
import shutil
import socket
import stat
import threading
import time
import unittest

from harness import Serve, TestCase, import_repo, run, unix_api
from tracker_harness import Tracker, http as http_get

FILES = {"config.json": b'{"a": 1}\n', "model.safetensors": os.urandom(2 * 1024 * 1024 + 7),
         "sub/tok.txt": b"a\nb\n"}
OTHER = {"config.json": b'{"b": 2}\n', "weights.bin": os.urandom(1024 * 1024 + 3)}


api = unix_api


def wait_for(what, predicate, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out after %d s waiting for %s" % (timeout, what))


class DaemonCase(TestCase):
    """A daemon per test, on its own cache and runtime folder; no tests here."""

    def setUp(self):
        super().setUp()
        self.cache = self.path("cache")
        self.runtime = self.path("run")
        os.mkdir(self.runtime, 0o700)
        self.env = {"XDG_RUNTIME_DIR": self.runtime}
        self.started = []

    def tearDown(self):
        for cache in self.started:
            run(["daemon", "stop", "--cache-dir", cache], env=self.env)
        super().tearDown()

    def start(self, tracker_url, cache=None, *extra):
        cache = cache or self.cache
        p = run(["daemon", "start", "--cache-dir", cache, "--tracker", tracker_url, "--listen", "127.0.0.1:0",
                 "--scan-interval", "1", "--log-file", self.path("daemon.log")] + list(extra), env=self.env)
        self.assertExit(p, 0)
        self.started.append(cache)
        self.sock = p.stdout.splitlines()[0].split("socket ")[1].rstrip(")")
        return p

    def log(self):
        with open(self.path("daemon.log")) as f:
            return f.read()


class DaemonTest(DaemonCase):
    def seeds(self):
        status, body = api(self.sock, "GET", "/v1/seeds")
        self.assertEqual(status, 200)
        return body

    def published(self, tracker, commit):
        st, _, body = http_get(tracker.url + "/api/v1/torrents?repo_id=org/m&revision=" + commit)
        return st == 200 and json.loads(body)["total"] > 0

    def test_seeds_and_publishes_what_the_cache_holds(self):
        commit = import_repo(self.cache, "org/m", FILES)
        with Tracker(self.path("t.db")) as t:
            self.start(t.url)
            wait_for("the publish", lambda: self.published(t, commit))
            seeds = wait_for("the seed", self.seeds)
            self.assertEqual((seeds[0]["repo"], seeds[0]["revision"]), ("org/m", commit))
            # A downloader with an empty cache gets it all from the daemon.
            with Serve(self.cache) as hub:
                p = run(["download", "org/m", "--endpoint", hub.url, "--cache-dir", self.path("dl"), "--json",
                         "--tracker", t.url, "--listen", "127.0.0.1:0", "--no-webseed"])
                self.assertExit(p, 0)
                out = json.loads(p.stdout)
                self.assertEqual(out["bytes_http"], 0)
                self.assertEqual(out["bytes_p2p"], out["bytes_total"])
            status = run(["daemon", "status", "--cache-dir", self.cache, "--json"], env=self.env)
            self.assertExit(status, 0)
            self.assertEqual(json.loads(status.stdout)[0]["seeds"][0]["revision"], commit)
            stop = run(["daemon", "stop", "--cache-dir", self.cache], env=self.env)
            self.assertExit(stop, 0)
            self.assertFalse(os.path.exists(self.sock))
            self.assertExit(run(["daemon", "status", "--cache-dir", self.cache], env=self.env), 1)
            with open(self.path("daemon.log")) as f:
                log = f.read()
            self.assertIn("seeding model org/m@" + commit, log)
            self.assertIn("daemon stopped", log)

    def test_new_deleted_and_changed_snapshots(self):
        os.makedirs(self.cache)
        with Tracker(self.path("t.db")) as t:
            self.start(t.url)
            self.assertEqual(self.seeds(), [])
            commit = import_repo(self.cache, "org/m", FILES)  # copied in while it runs
            wait_for("the new snapshot", self.seeds, timeout=30)
            other = import_repo(self.cache, "org/other", OTHER)
            status, body = api(self.sock, "POST", "/v1/scan")  # no waiting for the next scan
            self.assertEqual((status, body["seeds"]), (200, 2))
            # a blob changed in place: no longer seeded
            blob = os.path.realpath(os.path.join(self.cache, "models--org--other", "snapshots", other, "weights.bin"))
            with open(blob, "r+b") as f:
                f.write(b"X")
            wait_for("the changed snapshot to go", lambda: len(self.seeds()) == 1)
            self.assertEqual(self.seeds()[0]["revision"], commit)
            # a deleted snapshot: no longer seeded
            shutil.rmtree(os.path.join(self.cache, "models--org--m"))
            wait_for("the deleted snapshot to go", lambda: self.seeds() == [])

    def test_tracker_restarted_empty_gets_the_torrent_again(self):
        commit = import_repo(self.cache, "org/m", FILES)
        port = self.reserve_port()
        t = Tracker(self.path("t.db"), "--announce-interval", "10", port=port)
        try:
            self.start(t.url, None, "--tracker-check", "1")
            wait_for("the seed", lambda: "publish created" in self.log())
            self.assertTrue(self.published(t, commit))
            t.stop()
            for suffix in ("", "-wal", "-shm"):
                if os.path.exists(self.path("t.db" + suffix)):
                    os.unlink(self.path("t.db" + suffix))
            t.start()  # on the same port, with an empty database
            self.assertFalse(self.published(t, commit))
            wait_for("the publish again", lambda: self.published(t, commit), timeout=60)
            wait_for("the log line", lambda: "publish model org/m@%s: created" % commit in self.log())
        finally:
            t.stop()

    def test_snapshot_without_a_manifest_is_listed_on_the_hub(self):
        # As huggingface_hub leaves a download: blobs and snapshot links, no
        # llmpt manifest; first only part of it (allow_patterns).
        commit = import_repo(self.cache, "org/m", FILES)
        hub_cache = self.path("hub")
        import_repo(hub_cache, "org/m", FILES)
        repo = os.path.join(self.cache, "models--org--m")
        manifest = os.path.join(repo, ".llmpt", "manifests", commit + ".json")
        os.unlink(manifest)
        tok = os.path.join(repo, "snapshots", commit, "sub", "tok.txt")
        target = os.readlink(tok)
        os.unlink(tok)
        with Tracker(self.path("t.db")) as t, Serve(hub_cache) as hub:
            self.start(t.url, None, "--endpoint", hub.url)
            wait_for("the partial snapshot to be noticed", lambda: "only part of the commit's 3 files" in self.log())
            api(self.sock, "POST", "/v1/scan")
            self.assertEqual(self.seeds(), [])
            os.symlink(target, tok)  # the rest arrives
            wait_for("the seed", self.seeds)
            self.assertTrue(os.path.exists(manifest))
            self.assertIn("listed model org/m@%s on the Hub: all 3 files are here" % commit, self.log())
            wait_for("the publish", lambda: self.published(t, commit))
            # The commit's file list was asked once, whatever the number of scans.
            self.assertEqual(len([r for r in hub.requests() if "/tree/" in r]), 1)

    def test_scans_never_hold_every_control_thread(self):
        # A Hub that accepts and never answers makes each scan slow (listing
        # a snapshot without a manifest waits out its timeout): POST /v1/scan
        # requests pile up, yet only one waits and /health still answers.
        commit = import_repo(self.cache, "org/m", FILES)
        os.unlink(os.path.join(self.cache, "models--org--m", ".llmpt", "manifests", commit + ".json"))
        silent = socket.socket()
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        try:
            with Tracker(self.path("t.db")) as t:
                self.start(t.url, None, "--endpoint", "http://127.0.0.1:%d" % silent.getsockname()[1])
                answers = []
                threads = [threading.Thread(target=lambda: answers.append(api(self.sock, "POST", "/v1/scan")[0]))
                           for _ in range(3)]
                for th in threads:
                    th.start()
                wait_for("two scans answered at once", lambda: len(answers) >= 2, timeout=15)
                self.assertEqual(answers[:2], [202, 202])
                self.assertEqual(api(self.sock, "GET", "/health", timeout=10)[0], 200)
                for th in threads:
                    th.join(60)
                self.assertEqual(len(answers), 3)
        finally:
            silent.close()

    def test_publish_token_is_used_and_kept_off_the_command_line(self):
        commit = import_repo(self.cache, "org/m", FILES)
        with Tracker(self.path("t.db"), "--publish-token", "s3cret") as t:
            self.start(t.url, None, "--publish-token", "s3cret")
            wait_for("the publish", lambda: self.published(t, commit))
            pid = api(self.sock, "GET", "/health")[1]["pid"]
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                argv = f.read().split(b"\0")
            self.assertIn(b"--foreground", argv)
            self.assertNotIn(b"s3cret", argv)

    def test_one_daemon_per_cache_and_a_private_socket(self):
        import_repo(self.cache, "org/m", FILES)
        with Tracker(self.path("t.db")) as t:
            self.start(t.url)
            self.assertEqual(stat.S_IMODE(os.stat(self.sock).st_mode), 0o600)
            if os.getuid() == 0:  # another user cannot connect (root would pass any mode)
                pid = os.fork()
                if pid == 0:
                    code = 1
                    try:
                        os.setgid(65534)
                        os.setuid(65534)
                        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                        s.connect(self.sock)
                    except PermissionError:
                        code = 0
                    except BaseException:
                        code = 2
                    os._exit(code)
                self.assertEqual(os.waitpid(pid, 0)[1], 0, "another user reached the control socket")
            second = run(["daemon", "start", "--cache-dir", self.cache, "--tracker", t.url,
                          "--listen", "127.0.0.1:0"], env=self.env)
            self.assertExit(second, 1)
            self.assertIn("a daemon already serves this cache (pid", second.stderr)
            fg = run(["daemon", "start", "--foreground", "--cache-dir", self.cache, "--socket", self.path("x.sock")],
                     env=self.env)
            self.assertExit(fg, 1)
            self.assertIn("already serves", fg.stderr)

    def test_control_api_answers_bad_requests_with_json_errors(self):
        os.makedirs(self.cache)
        with Tracker(self.path("t.db")) as t:
            self.start(t.url)
            self.assertEqual(api(self.sock, "GET", "/health")[1]["status"], "ok")
            status, body = api(self.sock, "GET", "/v1/nothing")
            self.assertEqual(status, 404)
            self.assertIn("error", body)
            self.assertEqual(api(self.sock, "DELETE", "/v1/seeds")[0], 405)
            self.assertEqual(api(self.sock, "GET", "/v1/scan")[0], 405)
            status, body = api(self.sock, "POST", "/v1/scan", body=b"x" * (1 << 20))
            self.assertEqual(status, 413)

    def test_usage_errors(self):
        self.assertExit(run(["daemon"]), 2)
        self.assertExit(run(["daemon", "start", "--foreground", "--listen", "nope:port"]), 2)
        self.assertExit(run(["daemon", "stop", "--cache-dir", self.path("none")], env=self.env), 0)


if __name__ == "__main__":
    unittest.main()
