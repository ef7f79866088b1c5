"""Disk full: exit 7 and the cache is left as it was (a small tmpfs)."""

import os
import subprocess
import unittest

from harness import Serve, TestCase, import_repo, run

FILES = {"config.json": b"{}\n", "model.bin": os.urandom(3 * 1024 * 1024)}


@unittest.skipUnless(os.geteuid() == 0, "mounting a tmpfs needs root (CI runs as root)")
class DiskFullTest(TestCase):
    def setUp(self):
        super().setUp()
        self.small = self.path("small")
        os.makedirs(self.small)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", self.small], check=True)

    def tearDown(self):
        subprocess.run(["umount", "-l", self.small], check=False)
        super().tearDown()

    def test_no_space_is_exit_7_and_leaves_the_cache_as_before(self):
        src = self.path("server-cache")
        import_repo(src, "org/big", FILES)
        cache = os.path.join(self.small, "hub")
        os.makedirs(cache)
        with open(os.path.join(cache, "keep.txt"), "w") as f:
            f.write("already here\n")
        before = sorted(os.listdir(cache))
        with Serve(src) as s:
            p = run(["download", "org/big", "--endpoint", s.url, "--cache-dir", cache])
            self.assertExit(p, 7)
            self.assertIn("disk space", p.stderr)
            # local-dir mode too
            p = run(["download", "org/big", "--endpoint", s.url, "--local-dir", os.path.join(self.small, "ld")])
            self.assertExit(p, 7)
        self.assertEqual(sorted(os.listdir(cache)), before)


if __name__ == "__main__":
    unittest.main()
