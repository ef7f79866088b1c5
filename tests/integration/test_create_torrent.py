"""llmpt create-torrent: deterministic (two caches, one info hash, the same as
python3-libtorrent's), accepted by llmpt-tracker, and it refuses snapshots
whose entries are not links into the repo's blobs/."""

import json
import os
import unittest

import libtorrent as lt

from harness import TestCase, import_repo, run
from tracker_harness import Tracker, facts, file_attrs, http, make_torrent, publish_body

FILES = {"config.json": b'{"a": 1}\n', "model.safetensors": os.urandom(600 * 1024), "sub/x.txt": b"x\n"}


class CreateTorrentTest(TestCase):
    def create(self, cache, *extra):
        out = self.path("out-%d.torrent" % len(os.listdir(self.tmp)))
        p = run(["create-torrent", "org/m", "--cache-dir", cache, "-o", out] + list(extra))
        self.assertExit(p, 0)
        with open(out, "rb") as f:
            return f.read()

    def test_deterministic_and_matches_libtorrent(self):
        commit = import_repo(self.path("a"), "org/m", FILES)
        self.assertEqual(import_repo(self.path("b"), "org/m", FILES), commit)
        ours_a = facts(self.create(self.path("a")))
        ours_b = facts(self.create(self.path("b"), "--tracker", "http://127.0.0.1:1"))
        self.assertEqual(ours_a["info_hash"], ours_b["info_hash"])
        self.assertEqual(ours_a["name"], commit)
        self.assertEqual(ours_a["v1"], "")
        snap = os.path.join(self.path("a"), "models--org--m", "snapshots", commit)
        self.assertEqual(facts(make_torrent(snap))["info_hash"], ours_a["info_hash"])
        # Model files are data: no attribute (the snapshot's links are 0777).
        self.assertEqual(file_attrs(self.create(self.path("a"))), [])
        self.assertEqual(file_attrs(self.create(self.path("a"), "--hybrid")), [])
        hybrid = facts(self.create(self.path("a"), "--hybrid"))
        self.assertTrue(hybrid["v1"])
        self.assertEqual(hybrid["v1"], facts(make_torrent(snap, hybrid=True))["v1"])

        data = self.create(self.path("b"), "--tracker", "http://127.0.0.1:1/")
        self.assertEqual([t.url for t in lt.torrent_info(data).trackers()], ["http://127.0.0.1:1/announce"])
        with Tracker(self.path("t.db")) as t:
            st, _, body = http(t.url + "/api/v1/publish", "POST", publish_body("org/m", commit, data))
            self.assertEqual(st, 200, body)
            self.assertEqual(json.loads(body)["info_hash"], ours_a["info_hash"])

    def test_refuses_what_the_cache_does_not_vouch_for(self):
        commit = import_repo(self.path("a"), "org/m", FILES)
        snap = os.path.join(self.path("a"), "models--org--m", "snapshots", commit)
        with open(self.path("outside.bin"), "wb") as f:
            f.write(b"not from the hub")
        os.symlink(self.path("outside.bin"), os.path.join(snap, "planted.bin"))
        p = run(["create-torrent", "org/m", "--cache-dir", self.path("a"), "-o", self.path("x.torrent")])
        self.assertExit(p, 6)
        self.assertIn("planted.bin", p.stderr)
        os.unlink(os.path.join(snap, "planted.bin"))
        os.unlink(os.path.realpath(os.path.join(snap, "config.json")))
        p = run(["create-torrent", "org/m", "--cache-dir", self.path("a"), "-o", self.path("x.torrent")])
        self.assertExit(p, 3)
        self.assertFalse(os.path.exists(self.path("x.torrent")))
        self.assertExit(run(["create-torrent", "org/none", "--cache-dir", self.path("a")]), 3)


if __name__ == "__main__":
    unittest.main()
