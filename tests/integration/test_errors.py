"""Bad input and unreachable endpoints: each gets its exit code (docs/design.md, "Bad input")
and a one-line message that says what was wrong."""

import json
import os
import unittest

from harness import Serve, TestCase, import_repo, run

FILES = {"config.json": b"{}\n", "model.bin": b"\0" * 4096}


class ErrorsTest(TestCase):
    def setUp(self):
        super().setUp()
        self.src = self.path("server-cache")
        self.commit = import_repo(self.src, "org/tiny", FILES)
        self.cache = self.path("cache")

    def download(self, url, *args, env=None):
        return run(["download", "--endpoint", url, "--cache-dir", self.cache] + list(args), env=env)

    def test_not_found_repo_revision_and_file(self):
        with Serve(self.src) as s:
            p = self.download(s.url, "org/missing")
            self.assertExit(p, 3)
            self.assertIn("org/missing not found", p.stderr)
            p = self.download(s.url, "org/tiny", "--revision", "nope")
            self.assertExit(p, 3)
            self.assertIn("revision", p.stderr)
            p = self.download(s.url, "org/tiny", "missing.txt")
            self.assertExit(p, 3)
            self.assertIn("missing.txt", p.stderr)
            no_exist = os.path.join(self.cache, "models--org--tiny", ".no_exist", self.commit, "missing.txt")
            self.assertTrue(os.path.isfile(no_exist))

    def test_gated_repo(self):
        with Serve(self.src, "--token", "sekrit") as s:
            p = self.download(s.url, "org/tiny")
            self.assertExit(p, 4)
            self.assertIn("--token", p.stderr)
            self.assertIn("HF_TOKEN", p.stderr)
            p = self.download(s.url, "org/tiny", "--token", "wrong")
            self.assertExit(p, 4)
            self.assertIn("refused", p.stderr)
            p = self.download(s.url, "org/tiny", env={"HF_TOKEN": "sekrit"})
            self.assertExit(p, 0)

    def test_gated_repo_behind_a_redirecting_cdn(self):
        with Serve(self.src, "--token", "sekrit", "--redirect") as s:
            p = self.download(s.url, "org/tiny", "--token", "sekrit", "--json")
            self.assertExit(p, 0)
            self.assertTrue([r for r in s.requests() if "/_cdn/" in r])
            self.assertExit(run(["verify", "org/tiny", "--cache-dir", self.cache]), 0)

    def test_endpoint_down(self):
        url = self.dead_url()
        p = self.download(url, "org/tiny")
        self.assertExit(p, 5)
        self.assertIn("cannot reach the Hub", p.stderr)
        self.assertIn("not in the cache", p.stderr)

    def test_endpoint_down_with_cached_snapshot(self):
        with Serve(self.src) as s:
            self.assertExit(self.download(s.url, "org/tiny"), 0)
        url = self.dead_url()
        p = self.download(url, "org/tiny", "--json")
        self.assertExit(p, 0)
        self.assertEqual(json.loads(p.stdout)["commit"], self.commit)

    def test_partial_snapshot_is_not_taken_for_a_complete_one(self):
        with Serve(self.src) as s:
            self.assertExit(self.download(s.url, "org/tiny", "--include", "*.json"), 0)
        url = self.dead_url()
        p = self.download(url, "org/tiny")
        self.assertExit(p, 5)
        self.assertIn("incomplete in the cache (no model.bin)", p.stderr)
        self.assertExit(self.download(url, "org/tiny", "--include", "*.json"), 0)
        self.assertExit(self.download(url, "org/tiny", "config.json"), 0)

    def test_offline_mode(self):
        url = self.dead_url()
        p = self.download(url, "org/tiny", env={"HF_HUB_OFFLINE": "1"})
        self.assertExit(p, 5)
        self.assertIn("HF_HUB_OFFLINE", p.stderr)
        with Serve(self.src) as s:
            self.assertExit(self.download(s.url, "org/tiny"), 0)
            before = len(s.requests())
            p = self.download(s.url, "org/tiny", env={"HF_HUB_OFFLINE": "1"})
            self.assertExit(p, 0)
            self.assertEqual(len(s.requests()), before)  # the Hub was not asked
            self.assertTrue(p.stdout.strip().endswith(self.commit))

    def test_invalid_arguments(self):
        for args in (["download"], ["download", "a/b/c"], ["download", "org/x", "--repo-type", "car"],
                     ["download", "org/x", "../etc"], ["download", "org/x", "--revision", "../x"],
                     ["nope"], ["download", "org/x", "--bogus"], ["serve", "--listen", "x:y"],
                     ["cache", "import", self.path("does-not-exist"), "--repo", "a/b"]):
            p = run(args)
            self.assertExit(p, 2)
            self.assertIn("error", p.stderr)
        self.assertExit(run(["--help"]), 0)
        self.assertExit(run(["download", "--help"]), 0)


if __name__ == "__main__":
    unittest.main()
