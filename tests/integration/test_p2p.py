"""P2P downloads on loopback as on two machines: tracker + llmpt serve (the
Hub) + a seeder with its own cache + a downloader with an empty cache."""

import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest

from harness import LLMPT, Serve, TestCase, import_repo, run, write_tree as write_files
from p2p_harness import PartialSeeder, PySeeder, announce_seeder
from test_seed import Seed
from tracker_harness import Tracker, facts, http, make_torrent, publish_body

BIG = os.urandom(6 * 1024 * 1024 + 123)
FILES = {"config.json": b'{"a": 1}\n', "model.safetensors": BIG, "extra/tok.txt": b"a\nb\n",
         "copy.json": b'{"a": 1}\n', "empty.txt": b""}
TOTAL = sum(len(v) for v in FILES.values())


class P2PTest(TestCase):
    def setUp(self):
        super().setUp()
        self.hub_cache = self.path("hub")
        self.commit = import_repo(self.hub_cache, "org/m", FILES)
        self.seed_cache = self.path("seeder")
        import_repo(self.seed_cache, "org/m", FILES)
        self.hub = Serve(self.hub_cache)
        self.tracker = Tracker(self.path("t.db"))
        self.cache = self.path("cache")

    def tearDown(self):
        self.tracker.stop()
        self.hub.stop()
        super().tearDown()

    def download(self, *args, tracker=None):
        # These tests are about getting the bytes: no seeding afterwards
        # (test_seed_time.py is about that).
        p = run(["download", "org/m", "--endpoint", self.hub.url, "--cache-dir", self.cache, "--json",
                 "--tracker", tracker or self.tracker.url, "--listen", "127.0.0.1:0", "--seed-time", "0"] + list(args),
                timeout=120)
        return p, (json.loads(p.stdout) if p.returncode == 0 else None)

    def resolve_gets(self):
        return [r for r in self.hub.requests() if " GET " in r and "/resolve/" in r]

    def seed_snapshots(self):
        return os.path.join(self.seed_cache, "models--org--m", "snapshots")

    def publish_torrent(self, root=None):
        """The snapshot under root/{commit} (default: the seeder cache's) as a
        torrent made by python3-libtorrent, published for the commit; its bytes."""
        data = make_torrent(os.path.join(root or self.seed_snapshots(), self.commit))
        self.assertEqual(http(self.tracker.url + "/api/v1/publish", "POST",
                              publish_body("org/m", self.commit, data))[0], 200)
        return data

    def torrent(self):
        return http(self.tracker.url + "/api/v1/torrents/torrent?repo_id=org/m&revision=" + self.commit)[2]

    def test_pure_p2p(self):
        s = Seed(self.seed_cache, self.tracker.url)
        try:
            p, out = self.download("--no-webseed")
            self.assertExit(p, 0)
            self.assertEqual((out["bytes_p2p"], out["bytes_http"], out["bytes_webseed"]), (TOTAL - len(FILES["copy.json"]), 0, 0))
            self.assertEqual(self.resolve_gets(), [])
            self.assertExit(run(["verify", "org/m", "--cache-dir", self.cache]), 0)
            repo = os.path.join(self.cache, "models--org--m")
            snap = os.path.join(repo, "snapshots", self.commit)
            for path in FILES:
                self.assertTrue(os.readlink(os.path.join(snap, path)).startswith("../" * (2 + path.count("/"))))
            # Verified files left staging for their blobs: no second link
            # keeps a blob's space when huggingface_hub deletes it.
            self.assertEqual(self.files_under(os.path.join(repo, ".llmpt", "staging")), [])
            with open(os.path.join(repo, "refs", "main")) as f:
                self.assertEqual(f.read(), self.commit)
            # a second download: everything cached
            p, out = self.download()
            self.assertEqual((out["bytes_cached"], out["bytes_p2p"], out["bytes_http"]), (out["bytes_total"], 0, 0))
        finally:
            s.stop()

    def assertLocalDir(self, local):
        for path, data in FILES.items():
            with open(os.path.join(local, path), "rb") as f:
                self.assertEqual(f.read(), data, path)
            with open(os.path.join(local, ".cache", "huggingface", "download", path + ".metadata")) as f:
                self.assertEqual(f.read().split("\n")[0], self.commit, path)

    def test_local_dir_pure_p2p(self):
        s = Seed(self.seed_cache, self.tracker.url)
        local = self.path("local")
        try:
            p, out = self.download("--no-webseed", "--local-dir", local)
            self.assertExit(p, 0)
            # every path is its own file in a local dir: copy.json too
            self.assertEqual((out["bytes_p2p"], out["bytes_http"], out["bytes_webseed"]), (TOTAL, 0, 0))
            self.assertEqual(self.resolve_gets(), [])
            self.assertEqual(out["path"], local)
            self.assertLocalDir(local)
            # staging (next to the files, so they are linked) keeps none of them
            staging = os.path.join(local, ".cache", "huggingface", "llmpt-staging")
            self.assertTrue(os.path.isdir(staging))
            self.assertEqual([f for _, _, fs in os.walk(staging) for f in fs], [])
            self.assertFalse(os.path.exists(os.path.join(self.cache, "models--org--m", "blobs")))
            p, out = self.download("--local-dir", local)
            self.assertEqual((out["bytes_cached"], out["bytes_p2p"], out["bytes_http"]), (TOTAL, 0, 0))
        finally:
            s.stop()

    def other_file_system(self):
        """A folder on another file system (tmpfs) than the test's, removed
        at the end."""
        other = tempfile.mkdtemp(prefix="llmpt-test-", dir="/dev/shm") if os.path.isdir("/dev/shm") else None
        if other:
            self.addCleanup(shutil.rmtree, other, True)
        if not other or os.stat(other).st_dev == os.stat(self.path("")).st_dev:
            self.skipTest("needs /dev/shm on another file system than the test's folder")
        return other

    def local_dir_with_cache_elsewhere(self, name):
        """A local dir whose .cache folder (staging, metadata, HTTP temp
        files) is on another file system (tmpfs) than its files."""
        other = self.other_file_system()
        local = self.path(name)
        os.makedirs(local)
        os.symlink(other, os.path.join(local, ".cache"))
        return local, other

    def test_local_dir_whose_cache_folder_is_another_file_system(self):
        # nothing can be linked or renamed into place: placed files are copies
        local, other = self.local_dir_with_cache_elsewhere("local")
        s = Seed(self.seed_cache, self.tracker.url)
        try:
            p, out = self.download("--no-webseed", "--local-dir", local)
            self.assertExit(p, 0)
            self.assertEqual((out["bytes_p2p"], out["bytes_http"]), (TOTAL, 0))
            self.assertLocalDir(local)
            self.assertEqual([f for _, _, fs in os.walk(os.path.join(other, "huggingface", "llmpt-staging"))
                              for f in fs], [])
        finally:
            s.stop()
        local, other = self.local_dir_with_cache_elsewhere("local-http")
        p, out = self.download("--no-p2p", "--local-dir", local)
        self.assertExit(p, 0)
        self.assertEqual(out["bytes_http"], TOTAL)
        self.assertLocalDir(local)
        self.assertEqual([f for _, _, fs in os.walk(os.path.join(other, "huggingface", "download"))
                          for f in fs if not f.endswith((".metadata", ".lock"))], [])

    def test_caches_on_tmpfs_pure_p2p(self):
        # tmpfs has no RWF_NOWAIT reads (EOPNOTSUPP): the seeder's disk back
        # end reads those blocks in its pool instead of failing them.
        shm = self.other_file_system()
        seed_cache = os.path.join(shm, "seeder")
        import_repo(seed_cache, "org/m", FILES)
        self.cache = os.path.join(shm, "cache")
        s = Seed(seed_cache, self.tracker.url)
        try:
            p, out = self.download("--no-webseed")
            self.assertExit(p, 0)
            self.assertEqual((out["bytes_p2p"], out["bytes_http"], out["bytes_webseed"]), (TOTAL - len(FILES["copy.json"]), 0, 0))
            self.assertExit(run(["verify", "org/m", "--cache-dir", self.cache]), 0)
        finally:
            s.stop()

    def test_local_dir_seeder_stops_http_keeps_p2p_bytes(self):
        local = self.path("local")
        out = self.only_seeder_stops_mid_transfer("--local-dir", local)
        # what peers sent became the HTTP fetcher's resume state: no byte twice
        self.assertEqual(out["bytes_p2p"] + out["bytes_http"] + out["bytes_webseed"] + out["bytes_cached"],
                         out["bytes_total"])
        self.assertLocalDir(local)
        meta = os.path.join(local, ".cache", "huggingface", "download")
        self.assertEqual([f for _, _, fs in os.walk(meta) for f in fs if not f.endswith((".metadata", ".lock"))], [])

    def test_subset_with_include_exclude(self):
        s = Seed(self.seed_cache, self.tracker.url)
        try:
            p, out = self.download("--no-webseed", "--include", "*.json", "--include", "extra/", "--exclude", "copy*")
            self.assertExit(p, 0)
            self.assertEqual(out["files"], 2)
            self.assertEqual(out["bytes_p2p"], len(FILES["config.json"]) + len(FILES["extra/tok.txt"]))
            staged = os.path.join(self.cache, "models--org--m", ".llmpt", "staging", self.commit, "model.safetensors")
            self.assertFalse(os.path.exists(staged) and os.path.getsize(staged) > 0)
        finally:
            s.stop()

    def test_tracker_down_or_empty_means_http(self):
        t0 = time.monotonic()
        p, out = self.download(tracker=self.dead_url())
        self.assertExit(p, 0)
        self.assertLess(time.monotonic() - t0, 10)
        self.assertIn("tracker unreachable", p.stderr)
        self.assertEqual(out["bytes_http"], out["bytes_total"] - len(FILES["copy.json"]))
        self.cache = self.path("cache2")
        p, out = self.download()  # nothing published
        self.assertExit(p, 0)
        self.assertEqual(out["bytes_p2p"], 0)

    def test_the_hub_down_a_listed_commit_comes_from_peers(self):
        # While the Hub is up, a download of config.json alone: the cache
        # learns the commit's file list.
        p, out = self.download("--include", "config.json")
        self.assertExit(p, 0)
        self.assertEqual(out["files"], 1)
        s = Seed(self.seed_cache, self.tracker.url)
        try:
            self.hub.stop()
            p, out = self.download("--no-webseed", "--revision", self.commit)
            self.assertExit(p, 0)
            self.assertIn("checked against the file list the Hub gave before", p.stderr)
            want = TOTAL - len(FILES["config.json"]) - len(FILES["copy.json"])  # copy.json is config.json's blob
            self.assertEqual((out["bytes_p2p"], out["bytes_http"], out["bytes_cached"]),
                             (want, 0, len(FILES["config.json"]) * 2))
            snap = os.path.join(self.cache, "models--org--m", "snapshots", self.commit)
            for path, data in FILES.items():
                with open(os.path.join(snap, path), "rb") as f:
                    self.assertEqual(f.read(), data, path)
            # A commit the cache never listed cannot go on without the Hub.
            p, _ = self.download("--revision", "f" * 40)
            self.assertExit(p, 5)
            self.assertIn("is not in the cache", p.stderr)
        finally:
            s.stop()

    def only_seeder_stops_mid_transfer(self, *args):
        """A download from one slow seeder that stops after 2 MiB: HTTP
        finishes it. The --json summary."""
        data = self.publish_torrent()
        seeder = PySeeder(data, self.seed_snapshots(), self.tracker.url, upload_rate=1024 * 1024)
        proc = subprocess.Popen([LLMPT, "download", "org/m", "--endpoint", self.hub.url, "--cache-dir", self.cache,
                                 "--json", "--tracker", self.tracker.url, "--listen", "127.0.0.1:0", "--no-webseed",
                                 "--p2p-timeout", "2"] + list(args),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.assertGreaterEqual(seeder.wait_uploaded(2 * 1024 * 1024), 2 * 1024 * 1024)
        seeder.stop()
        out, err = proc.communicate(timeout=120)
        self.assertEqual(proc.returncode, 0, err)
        out = json.loads(out)
        self.assertGreater(out["bytes_p2p"], 0)
        self.assertGreater(out["bytes_http"], 0)
        return out

    def test_only_seeder_stops_mid_transfer_http_keeps_p2p_bytes(self):
        out = self.only_seeder_stops_mid_transfer()
        self.assertEqual(out["bytes_p2p"] + out["bytes_http"] + out["bytes_webseed"] + out["bytes_cached"],
                         out["bytes_total"] - len(FILES["copy.json"]))
        self.assertExit(run(["verify", "org/m", "--cache-dir", self.cache]), 0)

    def test_poisoned_torrents(self):
        # same names and sizes, other content, published under the real commit
        fake_root = self.path("poison")
        poisoned = {k: (bytes(len(v)) if k == "model.safetensors" else v) for k, v in FILES.items()}
        write_files(os.path.join(fake_root, self.commit), poisoned)
        data = self.publish_torrent(fake_root)
        seeder = PySeeder(data, fake_root, self.tracker.url)
        try:
            p, out = self.download("--no-webseed")
            self.assertExit(p, 0)
            self.assertIn("does not match the Hub's hash", p.stderr)
            self.assertGreater(out["bytes_http"], 0)
            self.assertExit(run(["verify", "org/m", "--cache-dir", self.cache]), 0)
        finally:
            seeder.stop()

    def test_torrent_with_other_files_is_rejected_before_any_piece(self):
        fake_root = self.path("renamed")
        renamed = dict(FILES)
        renamed["renamed.safetensors"] = renamed.pop("model.safetensors")
        write_files(os.path.join(fake_root, self.commit), renamed)
        announce_seeder(self.tracker.url, self.publish_torrent(fake_root))
        p, out = self.download()
        self.assertExit(p, 0)
        self.assertIn("rejected", p.stderr)
        self.assertEqual((out["bytes_p2p"], out["bytes_webseed"]), (0, 0))

    def thin_swarm(self):
        """A peer that has every file but the big one."""
        partial = self.path("partial")
        write_files(os.path.join(partial, self.commit), {k: v for k, v in FILES.items() if k != "model.safetensors"})
        data = self.publish_torrent()
        return PartialSeeder(data, partial, self.tracker.url)

    def test_the_hub_is_a_web_seed_for_what_no_peer_has(self):
        peer = self.thin_swarm()
        try:
            p, out = self.download()
            self.assertExit(p, 0)
            self.assertIn("web seed", p.stderr)
            # The small files came from the peer, the big one mostly from
            # the Hub as a web seed (the peer, downloading it too, may pass
            # a piece on); no byte twice.
            small = sum(len(v) for k, v in FILES.items() if k not in ("model.safetensors", "copy.json"))
            self.assertGreaterEqual(out["bytes_p2p"], small)
            self.assertEqual(out["bytes_p2p"] + out["bytes_webseed"] + out["bytes_http"],
                             out["bytes_total"] - len(FILES["copy.json"]))
            self.assertGreater(out["bytes_webseed"], len(BIG) // 2)
            self.assertFalse([r for r in self.resolve_gets() if "config.json" in r or "tok.txt" in r])
        finally:
            peer.stop()
        self.assertExit(run(["verify", "org/m", "--cache-dir", self.cache]), 0)

    def test_a_listed_peer_that_never_answers_means_http_within_seconds(self):
        announce_seeder(self.tracker.url, self.publish_torrent())
        t0 = time.monotonic()
        p, out = self.download("--p2p-timeout", "60")
        self.assertExit(p, 0)
        self.assertLess(time.monotonic() - t0, 20)
        self.assertIn("no peer answered", p.stderr)
        self.assertEqual(out["bytes_http"], out["bytes_total"] - len(FILES["copy.json"]))

    def test_nobody_announcing_means_http_at_once(self):
        self.publish_torrent()  # published, but no peer announces it
        p, out = self.download()
        self.assertExit(p, 0)
        self.assertEqual((out["bytes_p2p"], out["bytes_webseed"]), (0, 0))
        self.assertEqual(p.stderr, "")

    def test_with_a_token_the_hub_fills_a_thin_swarm_over_http(self):
        # A web seed added mid-transfer cannot carry the token: once only the
        # Hub has what is left, HTTP (which follows the CDN redirect) takes it.
        peer = self.thin_swarm()
        try:
            with Serve(self.hub_cache, "--redirect", "--token", "sekrit") as gated:
                p = run(["download", "org/m", "--endpoint", gated.url, "--token", "sekrit", "--cache-dir",
                         self.cache, "--json", "--tracker", self.tracker.url, "--listen", "127.0.0.1:0",
                         "--seed-time", "0"], timeout=120)
                self.assertExit(p, 0)
                out = json.loads(p.stdout)
                self.assertIn("no connected peer has the rest", p.stderr)
                self.assertEqual((out["bytes_webseed"], out["bytes_http"]), (0, len(BIG)))
                self.assertTrue([r for r in gated.requests() if "/_cdn/" in r])
        finally:
            peer.stop()
        self.assertExit(run(["verify", "org/m", "--cache-dir", self.cache]), 0)

    def test_two_seeders_one_stops_the_other_finishes(self):
        data = self.publish_torrent()
        snaps = self.seed_snapshots()
        a = PySeeder(data, snaps, self.tracker.url, upload_rate=1024 * 1024)
        b = PySeeder(data, snaps, self.tracker.url, upload_rate=1024 * 1024)
        try:
            proc = subprocess.Popen([LLMPT, "download", "org/m", "--endpoint", self.hub.url, "--cache-dir",
                                     self.cache, "--json", "--tracker", self.tracker.url, "--listen", "127.0.0.1:0",
                                     "--no-webseed", "--p2p-timeout", "20"],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            a.wait_uploaded(1024 * 1024)
            a.stop()
            out, err = proc.communicate(timeout=120)
            self.assertEqual(proc.returncode, 0, err)
            out = json.loads(out)
            self.assertEqual((out["bytes_http"], out["bytes_webseed"]), (0, 0))
            self.assertEqual(out["bytes_p2p"], out["bytes_total"] - len(FILES["copy.json"]))
        finally:
            b.stop()
        self.assertExit(run(["verify", "org/m", "--cache-dir", self.cache]), 0)

    def test_a_corrupt_peer_does_not_spoil_the_download(self):
        data = self.publish_torrent()
        bad_root = self.path("bad")
        corrupt = dict(FILES)
        corrupt["model.safetensors"] = bytes(len(BIG))  # right size, wrong bytes, same torrent
        write_files(os.path.join(bad_root, self.commit), corrupt)
        bad = PySeeder(data, bad_root, self.tracker.url, lie=True)
        good = PySeeder(data, self.seed_snapshots(), self.tracker.url,
                        upload_rate=2 * 1024 * 1024)
        try:
            p, out = self.download("--no-webseed", "--p2p-timeout", "20")
            self.assertExit(p, 0)
            self.assertEqual(out["bytes_http"], 0, p.stderr)
            # Said once, from libtorrent's hash_failed alert (the session's
            # alerts reach the download).
            self.assertEqual(p.stderr.count("fails the torrent's hashes"), 1, p.stderr)
            self.assertGreater(bad.uploaded(), 0)
        finally:
            bad.stop()
            good.stop()
        self.assertExit(run(["verify", "org/m", "--cache-dir", self.cache]), 0)

    def test_hybrid_torrent_pure_p2p(self):
        # v1 piece hashes span pad files: the disk back end hashes them as zeros.
        s = Seed(self.seed_cache, self.tracker.url, "--hybrid")
        try:
            p, out = self.download("--no-webseed")
            self.assertExit(p, 0)
            self.assertEqual((out["bytes_p2p"], out["bytes_http"]), (TOTAL - len(FILES["copy.json"]), 0))
        finally:
            s.stop()
        self.assertExit(run(["verify", "org/m", "--cache-dir", self.cache]), 0)

    def test_killed_download_restarts_from_what_staging_holds(self):
        data = self.publish_torrent()
        slow = PySeeder(data, self.seed_snapshots(), self.tracker.url,
                        upload_rate=1024 * 1024)
        try:
            proc = subprocess.Popen([LLMPT, "download", "org/m", "--endpoint", self.hub.url, "--cache-dir",
                                     self.cache, "--json", "--tracker", self.tracker.url, "--listen", "127.0.0.1:0",
                                     "--no-webseed"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            self.assertGreaterEqual(slow.wait_uploaded(2 * 1024 * 1024), 2 * 1024 * 1024)
            proc.kill()
            proc.communicate(timeout=30)
        finally:
            slow.stop()
        s = Seed(self.seed_cache, self.tracker.url)
        try:
            p, out = self.download("--no-webseed")
            self.assertExit(p, 0)
        finally:
            s.stop()
        # What the killed run verified is kept (counted as cached), the rest
        # came from the peer, and nothing from HTTP. copy.json shares
        # config.json's blob: cached too if the killed run placed that blob.
        self.assertGreaterEqual(out["bytes_cached"], 1024 * 1024)
        self.assertEqual(out["bytes_http"], 0)
        self.assertIn(out["bytes_p2p"] + out["bytes_cached"],
                      (out["bytes_total"], out["bytes_total"] - len(FILES["copy.json"])))
        self.assertExit(run(["verify", "org/m", "--cache-dir", self.cache]), 0)

    def single_file_snapshot(self, *seed_args):
        # libtorrent reads a one-file v2 torrent as a single-file torrent named
        # after the file; it is still published under the commit
        # (docs/design.md, "Torrents") and lands in its blob.
        one = {"model.safetensors": BIG}
        hub_cache, seed_cache = self.path("hub1"), self.path("seed1")
        self.commit = import_repo(hub_cache, "org/m", one)
        import_repo(seed_cache, "org/m", one)
        self.hub.stop()
        self.hub = Serve(hub_cache)
        s = Seed(seed_cache, self.tracker.url, *seed_args)
        try:
            self.assertEqual(s.publish, "created", s.stderr())
            self.assertEqual(facts(self.torrent())["name"], self.commit)
            p, out = self.download("--no-webseed")
            self.assertExit(p, 0)
            self.assertEqual((out["bytes_p2p"], out["bytes_http"]), (len(BIG), 0))
        finally:
            s.stop()
        self.assertEqual(self.files_under(os.path.join(self.cache, "models--org--m", ".llmpt", "staging")), [])
        self.assertExit(run(["verify", "org/m", "--cache-dir", self.cache]), 0)

    def test_single_file_snapshot(self):
        self.single_file_snapshot()

    def test_single_file_snapshot_hybrid(self):
        self.single_file_snapshot("--hybrid")


class QueuedWritesP2PTest(P2PTest):
    """Some of the same downloads with every block queued for the disk back
    end's writer thread (LLMPT_P2P_DISK_IO=queued), the path the default
    takes once the page cache makes writers wait for the disk."""

    def setUp(self):
        os.environ["LLMPT_P2P_DISK_IO"] = "queued"
        self.addCleanup(os.environ.pop, "LLMPT_P2P_DISK_IO", None)
        super().setUp()


for _name in [n for n in vars(P2PTest) if n.startswith("test_")]:
    if _name not in ("test_pure_p2p", "test_a_corrupt_peer_does_not_spoil_the_download", "test_only_seeder_stops_mid_transfer_http_keeps_p2p_bytes"):
        setattr(QueuedWritesP2PTest, _name, None)


if __name__ == "__main__":
    unittest.main()
