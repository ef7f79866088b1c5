"""Deleting a revision the way huggingface_hub does (`hf cache delete`,
`scan_cache_dir().delete_revisions(...).execute()`: the snapshot folder,
its refs and the blobs no other revision uses are unlinked) frees its
space, whatever llmpt did with it: downloaded it from peers, seeded it with
`llmpt seed`, or seeds it from the daemon. "Freed" is measured exactly: no
name of a deleted blob's inode is left anywhere in the cache, and no llmpt
process holds one open (the kernel frees an inode then)."""

import json
import os
import shutil
import unittest

from harness import Serve, TestCase, import_repo, run
from test_daemon import DaemonCase, wait_for
from test_seed import Seed
from tracker_harness import Tracker

BIG = os.urandom(3 * 1024 * 1024 + 11)
FILES = {"config.json": b'{"a": 1}\n', "model.safetensors": BIG, "sub/tok.txt": b"a\nb\n"}
# A second revision of the same repo that shares config.json.
NEXT = {"config.json": b'{"a": 1}\n', "model.safetensors": os.urandom(1024 * 1024 + 5)}


def hf_delete_revision(repo_dir, commit):
    """What huggingface_hub's DeleteCacheStrategy.execute does for one of
    several revisions: rmtree the snapshot, unlink the refs that point at it
    and the blobs only it uses. Returns {inode: size} of the deleted blobs."""
    snap = os.path.join(repo_dir, "snapshots", commit)
    used_elsewhere = set()
    for other in os.listdir(os.path.join(repo_dir, "snapshots")):
        if other == commit:
            continue
        for d, _, files in os.walk(os.path.join(repo_dir, "snapshots", other)):
            used_elsewhere.update(os.path.realpath(os.path.join(d, f)) for f in files)
    blobs = set()
    for d, _, files in os.walk(snap):
        blobs.update(os.path.realpath(os.path.join(d, f)) for f in files)
    deleted = {}
    for blob in blobs - used_elsewhere:
        st = os.stat(blob)
        deleted[st.st_ino] = st.st_size
        os.unlink(blob)
    shutil.rmtree(snap)
    for d, _, files in os.walk(os.path.join(repo_dir, "refs")):
        for f in files:
            ref = os.path.join(d, f)
            with open(ref) as fh:
                if fh.read().strip() == commit:
                    os.unlink(ref)
    return deleted


def names_left(root, inodes):
    """Paths under root that are still a name of one of `inodes`."""
    left = []
    for d, dirs, files in os.walk(root):
        for f in files:
            p = os.path.join(d, f)
            if not os.path.islink(p) and os.stat(p).st_ino in inodes:
                left.append(os.path.relpath(p, root))
    return left


def open_deleted(pid, root):
    """Files under `root` that process `pid` holds open although they were deleted."""
    out = []
    fd_dir = "/proc/%d/fd" % pid
    for fd in os.listdir(fd_dir):
        try:
            target = os.readlink(os.path.join(fd_dir, fd))
        except OSError:
            continue
        if target.startswith(root) and target.endswith(" (deleted)"):
            out.append(target)
    return out


class DeleteTest(TestCase):
    def setUp(self):
        super().setUp()
        self.hub_cache = self.path("hub")
        self.commit = import_repo(self.hub_cache, "org/m", FILES)
        self.seed_cache = self.path("seeder")
        import_repo(self.seed_cache, "org/m", FILES)

    def test_a_revision_downloaded_from_peers(self):
        cache = self.path("cache")
        with Serve(self.hub_cache) as hub, Tracker(self.path("t.db")) as t:
            s = Seed(self.seed_cache, t.url)
            try:
                p = run(["download", "org/m", "--endpoint", hub.url, "--cache-dir", cache, "--json",
                         "--tracker", t.url, "--listen", "127.0.0.1:0", "--no-webseed"])
                self.assertExit(p, 0)
                self.assertEqual(json.loads(p.stdout)["bytes_p2p"], sum(map(len, FILES.values())))
            finally:
                s.stop()
        # Another revision stays, so the repo folder stays (the general case).
        import_repo(cache, "org/m", NEXT, revision="next")
        repo = os.path.join(cache, "models--org--m")
        deleted = hf_delete_revision(repo, self.commit)
        self.assertGreaterEqual(sum(deleted.values()), len(BIG))
        self.assertEqual(names_left(cache, deleted), [])
        self.assertExit(run(["verify", "org/m", "--revision", "next", "--cache-dir", cache]), 0)

    def test_a_revision_llmpt_seed_shared(self):
        with Tracker(self.path("t.db")) as t:
            s = Seed(self.seed_cache, t.url)
            s.stop()
        repo = os.path.join(self.seed_cache, "models--org--m")
        import_repo(self.seed_cache, "org/m", NEXT, revision="next")
        deleted = hf_delete_revision(repo, self.commit)
        self.assertEqual(names_left(self.seed_cache, deleted), [])

    def test_staging_links_an_older_llmpt_left_are_dropped_by_the_next_run(self):
        # Older llmpt seeded from hard links in .llmpt/staging/{commit}/.
        repo = os.path.join(self.seed_cache, "models--org--m")
        staging = os.path.join(repo, ".llmpt", "staging", self.commit)
        for path in FILES:
            os.makedirs(os.path.dirname(os.path.join(staging, path)), exist_ok=True)
            os.link(os.path.realpath(os.path.join(repo, "snapshots", self.commit, path)), os.path.join(staging, path))
        with Serve(self.hub_cache) as hub:
            p = run(["download", "org/m", "--endpoint", hub.url, "--cache-dir", self.seed_cache, "--no-p2p"])
            self.assertExit(p, 0)
        self.assertFalse(os.path.exists(os.path.join(repo, ".llmpt", "staging")))
        import_repo(self.seed_cache, "org/m", NEXT, revision="next")
        self.assertEqual(names_left(self.seed_cache, hf_delete_revision(repo, self.commit)), [])


class DaemonDeleteTest(DaemonCase):
    def test_the_daemon_lets_go_of_a_deleted_revision(self):
        commit = import_repo(self.cache, "org/m", FILES)
        import_repo(self.cache, "org/m", NEXT, revision="next")
        repo = os.path.join(self.cache, "models--org--m")
        # Older llmpt's staging links, which the daemon's scan drops too.
        staging = os.path.join(repo, ".llmpt", "staging", commit)
        os.makedirs(staging)
        os.link(os.path.realpath(os.path.join(repo, "snapshots", commit, "model.safetensors")),
                os.path.join(staging, "model.safetensors"))
        with Tracker(self.path("t.db")) as t:
            self.start(t.url)
            status = json.loads(run(["daemon", "status", "--json", "--cache-dir", self.cache], env=self.env).stdout)
            pid = status[0]["pid"]
            wait_for("both seeds", lambda: "seeding model org/m@" + commit in self.log() and "org/m@" in self.log()
                     and self.log().count("seeding model org/m@") == 2)
            self.assertFalse(os.path.exists(staging))
            deleted = hf_delete_revision(repo, commit)
            self.assertEqual(names_left(self.cache, deleted), [])
            # The daemon notices within its scan interval and closes the blobs.
            wait_for("the daemon to stop seeding it", lambda: "stopped seeding model org/m@" + commit in self.log())
            wait_for("the daemon to close the deleted blobs", lambda: open_deleted(pid, self.cache) == [])


if __name__ == "__main__":
    unittest.main()
