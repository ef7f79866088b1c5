"""@huggingface/hub against `llmpt serve`: what the JS client reads of every
answer is there (lastCommit with expand, the revision's sha and dates), so
its cache is the one llmpt and huggingface_hub make: snapshots named by
the commit, never by a file's etag."""

import os
import unittest

from harness import Serve, TestCase, import_repo, run
from js_harness import available, hfjs

FILES = {"config.json": b'{"a": 1}\n', "model.safetensors": os.urandom(1024 * 1024 + 3),
         "sub/tok.txt": b"a\nb\n"}


class JsClientTest(TestCase):
    def setUp(self):
        super().setUp()
        self.assertTrue(available(), "needs node and tests/integration/js/node_modules: run scripts/bootstrap.sh")
        self.commit = import_repo(self.path("hub"), "org/m", FILES)
        self.serve = Serve(self.path("hub"))

    def tearDown(self):
        self.serve.stop()
        super().tearDown()

    def test_download_file_by_branch_lands_in_the_commits_snapshot(self):
        cache = self.path("js")
        code, out = hfjs({"op": "file", "repo": "org/m", "path": "sub/tok.txt", "revision": "main",
                          "cacheDir": cache, "hubUrl": self.serve.url})
        self.assertEqual(code, 0, out)
        want = os.path.join(cache, "models--org--m", "snapshots", self.commit, "sub", "tok.txt")
        self.assertEqual(out["path"], want)
        with open(want, "rb") as f:
            self.assertEqual(f.read(), FILES["sub/tok.txt"])
        self.assertEqual(os.listdir(os.path.join(cache, "models--org--m", "snapshots")), [self.commit])

    def test_snapshot_download_makes_the_cache_llmpt_makes(self):
        js, ours = self.path("js"), self.path("ours")
        code, out = hfjs({"op": "snapshot", "repo": "org/m", "revision": "main", "cacheDir": js,
                          "hubUrl": self.serve.url})
        self.assertEqual(code, 0, out)
        self.assertExit(run(["download", "org/m", "--endpoint", self.serve.url, "--cache-dir", ours, "--no-p2p"]), 0)
        tree = lambda root: [p for p in self.files_under(os.path.join(root, "models--org--m"))
                             if not p.startswith((".llmpt", ".no_exist"))]
        self.assertEqual(tree(js), tree(ours))
        for path, data in FILES.items():
            with open(os.path.join(js, "models--org--m", "snapshots", self.commit, path), "rb") as f:
                self.assertEqual(f.read(), data)
        self.assertExit(run(["verify", "org/m", "--cache-dir", js]), 0)


if __name__ == "__main__":
    unittest.main()
