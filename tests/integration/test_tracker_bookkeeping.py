"""What the tracker knows of llmpt's own peers: our seeders stay listed
under a short announce interval (they follow it), a finished download
leaves the swarm at once, and a hybrid torrent's download counts once."""

import json
import os
import time
import unittest

from harness import Serve, TestCase, import_repo, run
from test_seed import Seed
from tracker_harness import Tracker, http

FILES = {"config.json": b'{"a": 1}\n', "model.safetensors": os.urandom(2 * 1024 * 1024 + 7)}


class BookkeepingTest(TestCase):
    def setUp(self):
        super().setUp()
        self.commit = import_repo(self.path("hub"), "org/m", FILES)
        import_repo(self.path("seed"), "org/m", FILES)

    def stats(self, tracker):
        q = "/api/v1/torrents?repo_id=org%2Fm&revision=" + self.commit
        return json.loads(http(tracker.url + q)[2])["data"][0]["stats"]

    def test_our_seeder_follows_a_short_interval(self):
        # Peers that announce as often as they may are never expired: ours
        # follow the tracker's 10 s (so they expire after 20 s of silence);
        # libtorrent's default floor of 300 s would drop them.
        with Tracker(self.path("t.db"), "--announce-interval", "10") as t:
            s = Seed(self.path("seed"), t.url)
            try:
                deadline = time.monotonic() + 10
                while self.stats(t)["seeders"] != 1 and time.monotonic() < deadline:
                    time.sleep(0.2)
                self.assertEqual(self.stats(t)["seeders"], 1)
                end = time.monotonic() + 26
                while time.monotonic() < end:
                    self.assertEqual(self.stats(t)["seeders"], 1, "the seeder expired between its announces")
                    time.sleep(0.5)
            finally:
                s.stop()

    def test_a_finished_download_leaves_the_swarm_and_counts_once(self):
        with Tracker(self.path("t.db")) as t, Serve(self.path("hub")) as hub:
            s = Seed(self.path("seed"), t.url, "--hybrid")
            try:
                p = run(["download", "org/m", "--endpoint", hub.url, "--cache-dir", self.path("cache"), "--json",
                         "--tracker", t.url, "--listen", "127.0.0.1:0", "--no-webseed"])
                self.assertExit(p, 0)
                self.assertGreater(json.loads(p.stdout)["bytes_p2p"], 0)
                # Gone with its `stopped` announce, not after two intervals;
                # libtorrent announced `completed` for both hashes: one download.
                self.assertEqual(self.stats(t), {"seeders": 1, "leechers": 0, "completed": 1},
                                 "\n".join(l for l in t.logs().splitlines() if " announce " in l))
            finally:
                s.stop()
            deadline = time.monotonic() + 10
            while self.stats(t)["seeders"] and time.monotonic() < deadline:
                time.sleep(0.1)
            self.assertEqual(self.stats(t)["seeders"], 0)


if __name__ == "__main__":
    unittest.main()
