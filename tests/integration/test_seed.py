"""llmpt seed: verified blobs only, seeded from the blobs themselves, published to the
tracker, and a standard BitTorrent peer: a python3-libtorrent client
downloads the snapshot from it with the torrent from our tracker."""

import json
import os
import signal
import subprocess
import tempfile
import time
import unittest

import libtorrent as lt

from harness import LLMPT, TestCase, import_repo, read_line, run, stop_process
from tracker_harness import Tracker, http

FILES = {"config.json": b'{"a": 1}\n', "model.safetensors": os.urandom(3 * 1024 * 1024 + 5),
         "sub/tok.txt": b"a\nb\n"}


class Seed:
    def __init__(self, cache, tracker_url, *extra):
        self.err = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([LLMPT, "seed", "org/m", "--cache-dir", cache, "--tracker", tracker_url,
                                      "--listen", "127.0.0.1:0"] + list(extra),
                                     stdout=subprocess.PIPE, stderr=self.err, text=True)
        line = read_line(self.proc.stdout, 60)
        if not line.startswith("seeding"):
            self.stop()
            raise AssertionError("seed did not start: %r %s" % (line, self.stderr()))
        words = line.split()
        self.info_hash = words[words.index("info_hash") + 1]
        self.port = int(words[words.index("port") + 1])
        self.publish = words[words.index("publish") + 1]

    def stderr(self):
        if self.err.closed:
            return self.last_stderr
        self.err.seek(0)
        return self.err.read().decode(errors="replace")

    def stop(self):
        code = stop_process(self.proc, signal.SIGINT, 20)
        if not self.err.closed:
            self.last_stderr = self.stderr()
            self.err.close()
        return code


def download_with_libtorrent(torrent_data, save_path, timeout=60):
    ses = lt.session({"listen_interfaces": "127.0.0.1:0", "enable_dht": False, "enable_lsd": False,
                      "enable_upnp": False, "enable_natpmp": False, "enable_outgoing_utp": False,
                      "enable_incoming_utp": False, "allow_multiple_connections_per_ip": True})
    h = ses.add_torrent({"ti": lt.torrent_info(torrent_data), "save_path": save_path})
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st = h.status()
        if st.is_seeding:
            return True
        time.sleep(0.1)
    return False


class SeedTest(TestCase):
    def setUp(self):
        super().setUp()
        self.cache = self.path("cache")
        self.commit = import_repo(self.cache, "org/m", FILES)

    def test_a_standard_peer_downloads_from_our_seeder(self):
        with Tracker(self.path("t.db")) as t:
            s = Seed(self.cache, t.url)
            try:
                self.assertEqual(s.publish, "created")
                # The torrent reads the blobs themselves: nothing beside blobs/ holds their bytes.
                repo = os.path.join(self.cache, "models--org--m")
                self.assertEqual(self.files_under(os.path.join(repo, ".llmpt", "staging")), [])
                st, _, data = http(t.url + "/api/v1/torrents/torrent?repo_id=org/m&revision=" + self.commit)
                self.assertEqual(st, 200)
                self.assertTrue(download_with_libtorrent(data, self.path("client")), s.stderr())
                for path, content in FILES.items():
                    with open(self.path("client", self.commit, path), "rb") as f:
                        self.assertEqual(f.read(), content)
            finally:
                self.assertEqual(s.stop(), 0)

    def test_hybrid_seeds_to_a_client_that_knows_only_the_v1_hash(self):
        with Tracker(self.path("t.db")) as t:
            s = Seed(self.cache, t.url, "--hybrid")
            try:
                st, _, data = http(t.url + "/api/v1/torrents/torrent?repo_id=org/m&revision=" + self.commit)
                v1 = lt.torrent_info(data).info_hashes().v1
                self.assertFalse(v1.is_all_zeros())
                ses = lt.session({"listen_interfaces": "127.0.0.1:0", "enable_dht": False, "enable_lsd": False,
                                  "enable_upnp": False, "enable_natpmp": False, "enable_outgoing_utp": False,
                                  "enable_incoming_utp": False, "allow_multiple_connections_per_ip": True})
                atp = lt.add_torrent_params()
                atp.info_hashes = lt.info_hash_t(v1)  # as a v1-only client (or a v1 magnet link) knows it
                atp.trackers = [t.url + "/announce"]
                atp.save_path = self.path("v1client")
                h = ses.add_torrent(atp)
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline and not h.status().is_seeding:
                    time.sleep(0.1)
                self.assertTrue(h.status().is_seeding, s.stderr())
                with open(self.path("v1client", self.commit, "model.safetensors"), "rb") as f:
                    self.assertEqual(f.read(), FILES["model.safetensors"])
            finally:
                s.stop()

    def test_second_start_does_not_rehash_and_changed_blobs_are_refused(self):
        with Tracker(self.path("t.db")) as t:
            s = Seed(self.cache, t.url)
            s.stop()
            self.assertIn("3.0 MiB hashed now", s.stderr())
            s = Seed(self.cache, t.url)
            self.assertEqual(s.publish, "exists")
            s.stop()
            self.assertIn(" 0 B hashed now", s.stderr())
        blob = os.path.realpath(os.path.join(self.cache, "models--org--m", "snapshots", self.commit,
                                             "model.safetensors"))
        with open(blob, "r+b") as f:
            f.write(b"X")
        p = run(["seed", "org/m", "--cache-dir", self.cache, "--listen", "127.0.0.1:0"], timeout=60)
        self.assertExit(p, 6)
        self.assertIn("model.safetensors", p.stderr)

    def test_publishes_once_the_tracker_comes_up(self):
        port = self.reserve_port()
        s = Seed(self.cache, "http://127.0.0.1:%d" % port)
        try:
            self.assertEqual(s.publish, "skipped")  # "skipped (tracker unreachable: ...)"
            with Tracker(self.path("t.db"), port=port) as t:
                deadline = time.monotonic() + 30
                found = 0
                while time.monotonic() < deadline and not found:
                    found = json.loads(http(t.url + "/api/v1/torrents?repo_id=org/m&revision=" + self.commit)[2])["total"]
                    time.sleep(0.2)
                self.assertEqual(found, 1, s.stderr())
                self.assertEqual(s.stop(), 0)
                self.assertIn("publish created", s.stderr())
        finally:
            s.stop()

    def test_links_leaving_blobs_are_refused(self):
        snap = os.path.join(self.cache, "models--org--m", "snapshots", self.commit)
        with open(self.path("secret"), "w") as f:
            f.write("secret")
        os.symlink(self.path("secret"), os.path.join(snap, "leak.txt"))
        p = run(["seed", "org/m", "--cache-dir", self.cache, "--listen", "127.0.0.1:0"], timeout=60)
        self.assertExit(p, 6)
        self.assertIn("leak.txt", p.stderr)


if __name__ == "__main__":
    unittest.main()
