"""qBittorrent (qbittorrent-nox 4.5, libtorrent 2.0) as a real third-party
peer in both directions: it leeches a snapshot from `llmpt seed` with the
torrent from our tracker, byte for byte and with no file made executable,
and `llmpt download --no-webseed` completes from it alone."""

import json
import os
import stat
import time
import unittest

from harness import Serve, TestCase, import_repo, run
from qbt_harness import QBT, QBittorrent
from test_seed import Seed
from tracker_harness import Tracker, http, publish_body

FILES = {"config.json": b'{"a": 1}\n', "model.safetensors": os.urandom(3 * 1024 * 1024 + 5),
         "sub/tok.txt": b"a\nb\n"}
TOTAL = sum(map(len, FILES.values()))


class QBittorrentTest(TestCase):
    def setUp(self):
        super().setUp()
        self.assertTrue(QBT, "needs qbittorrent-nox: run scripts/bootstrap.sh")
        self.commit = import_repo(self.path("seed"), "org/m", FILES)
        self.tracker = Tracker(self.path("t.db"))
        self.addCleanup(self.tracker.stop)
        self.qbt = QBittorrent(self.path("qbt"))
        self.addCleanup(self.qbt.stop)

    def torrent(self):
        st, _, data = http(self.tracker.url + "/api/v1/torrents/torrent?repo_id=org/m&revision=" + self.commit)
        self.assertEqual(st, 200)
        return data

    def test_qbittorrent_leeches_from_llmpt_seed(self):
        s = Seed(self.path("seed"), self.tracker.url)
        try:
            save = self.path("qbt-downloads")
            self.qbt.add(self.torrent(), save)
            self.qbt.wait("the download", lambda t: t["progress"] == 1 and t["state"] in ("uploading", "stalledUP"))
        finally:
            s.stop()
        for path, data in FILES.items():
            got = os.path.join(save, self.commit, path)
            with open(got, "rb") as f:
                self.assertEqual(f.read(), data, path)
            # Model files are data: qBittorrent honours a torrent's `x`
            # attribute, which older torrents of ours set on every file.
            self.assertEqual(os.stat(got).st_mode & (stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH), 0, path)

    def test_llmpt_download_completes_from_qbittorrent_alone(self):
        # qBittorrent seeds plain files (no cache of ours) after checking them.
        save = self.path("qbt-files")
        for path, data in FILES.items():
            os.makedirs(os.path.dirname(os.path.join(save, self.commit, path)), exist_ok=True)
            with open(os.path.join(save, self.commit, path), "wb") as f:
                f.write(data)
        p = run(["create-torrent", "org/m", "--cache-dir", self.path("seed"), "--tracker", self.tracker.url,
                 "-o", self.path("m.torrent")])
        self.assertExit(p, 0)
        with open(self.path("m.torrent"), "rb") as f:
            data = f.read()
        st, _, body = http(self.tracker.url + "/api/v1/publish", "POST", publish_body("org/m", self.commit, data))
        self.assertEqual(st, 200, body)
        self.qbt.add(data, save)
        self.qbt.wait("the check", lambda t: t["progress"] == 1 and t["state"] in ("uploading", "stalledUP"))
        q = "/api/v1/torrents?repo_id=org/m&revision=" + self.commit
        deadline = time.monotonic() + 30  # until qBittorrent has announced itself
        while json.loads(http(self.tracker.url + q)[2])["data"][0]["stats"]["seeders"] == 0:
            self.assertLess(time.monotonic(), deadline, "qBittorrent never announced")
            time.sleep(0.2)
        with Serve(self.path("seed")) as hub:
            p = run(["download", "org/m", "--endpoint", hub.url, "--cache-dir", self.path("cache"), "--json",
                     "--tracker", self.tracker.url, "--listen", "127.0.0.1:0", "--no-webseed"])
            self.assertExit(p, 0)
            out = json.loads(p.stdout)
            self.assertEqual((out["bytes_p2p"], out["bytes_http"]), (TOTAL, 0))
            self.assertEqual([r for r in hub.requests() if " GET " in r and "/resolve/" in r], [])
        self.assertExit(run(["verify", "org/m", "--cache-dir", self.path("cache")]), 0)


if __name__ == "__main__":
    unittest.main()
