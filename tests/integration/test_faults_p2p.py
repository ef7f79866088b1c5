"""Cache metadata faults over P2P (test_faults.py has the HTTP path): a
seeder on the tracker, the download's staging files hard-linked or renamed
into blobs/, each rename, link and symlink failing in turn."""

import json
import shutil
import unittest

from harness import Serve, import_repo
from test_faults import FILES, MetadataFaultTest, traced
from test_seed import Seed
from tracker_harness import Tracker


@unittest.skipUnless(shutil.which("strace"), "needs strace (the set-up installs it)")
class P2PMetadataFaultTest(MetadataFaultTest):
    """The same over P2P: staging files are hard-linked or renamed into
    blobs/, handed over to HTTP when a link fails; a seeder on the tracker."""

    repo = "org/m"  # what test_seed.Seed seeds

    def setUp(self):
        super().setUp()
        hub_cache = self.path("hub")
        self.commit = import_repo(hub_cache, self.repo, FILES)
        self.seed_cache = self.path("seeder")
        import_repo(self.seed_cache, self.repo, FILES)
        self.hub = Serve(hub_cache)
        self.tracker = Tracker(self.path("t.db"))
        self.seeder = Seed(self.seed_cache, self.tracker.url)

    def tearDown(self):
        self.seeder.stop()
        self.tracker.stop()
        self.hub.stop()
        super().tearDown()

    def download(self, hub):
        return ["download", self.repo, "--endpoint", self.hub.url, "--cache-dir", self.path("cache"),
                "--tracker", self.tracker.url, "--listen", "127.0.0.1:0", "--seed-time", "0", "--no-webseed"]

    def test_each_metadata_call_failing_leaves_a_cache_that_works(self):
        log = self.path("calls.log")
        p = traced(self.download(None) + ["--json"], log=log)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertGreater(json.loads(p.stdout)["bytes_p2p"], 0)  # the calls counted are the P2P path's
        shutil.rmtree(self.path("cache"))
        self.errors = ("EIO",)
        self.each_call_fails_in_turn()



# The HTTP cases are test_faults.py's; only the P2P ones run from this file.
del MetadataFaultTest

if __name__ == "__main__":
    unittest.main()
