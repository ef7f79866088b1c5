"""llmpt download against a real llmpt serve: the cache it writes is exactly
the one huggingface_hub writes (docs/design.md, "Cache layout")."""

import json
import os
import subprocess
import unittest

from harness import (EXAMPLES, Serve, TestCase, git_blob_sha1, import_repo, run, sha256)

FILES = {
    "config.json": b'{"hidden_size": 8}\n',
    "README.md": b"# a tiny model\n",
    "weights/model-00001.safetensors": os.urandom(3 * 1024 * 1024 + 7),
    "weights/model-00002.safetensors": os.urandom(1024 * 1024),
    "tokenizer/vocab.txt": b"a\nb\nc\n",
    "same-as-readme.md": b"# a tiny model\n",   # two paths, one blob
}


class DownloadTest(TestCase):
    def setUp(self):
        super().setUp()
        self.src = self.path("server-cache")
        self.commit = import_repo(self.src, "org/tiny", FILES)
        self.serve = Serve(self.src)
        self.cache = self.path("cache")

    def tearDown(self):
        self.serve.stop()
        super().tearDown()

    def download(self, *args, env=None):
        return run(["download", "--endpoint", self.serve.url, "--cache-dir", self.cache, "--json"]
                   + list(args), env=env)

    def test_file_modes_follow_the_umask(self):
        # A cache shared by a group (umask 002) needs group-writable blobs;
        # a private one (077) none readable by others.
        for umask, mode in ((0o002, 0o664), (0o077, 0o600)):
            cache = self.path("cache-%o" % umask)
            p = run(["download", "org/tiny", "--endpoint", self.serve.url, "--cache-dir", cache], umask=umask)
            self.assertExit(p, 0)
            self.assertModes(os.path.join(cache, "models--org--tiny"), mode)

    def test_cache_layout_is_exact(self):
        p = self.download("org/tiny")
        self.assertExit(p, 0)
        out = json.loads(p.stdout)
        repo = os.path.join(self.cache, "models--org--tiny")
        snap = os.path.join(repo, "snapshots", self.commit)
        self.assertEqual(out["path"], snap)
        self.assertEqual(out["commit"], self.commit)
        self.assertEqual(out["files"], len(FILES))
        self.assertEqual(out["bytes_total"], sum(len(v) for v in FILES.values()))
        self.assertEqual(out["bytes_http"] + out["bytes_cached"], out["bytes_total"] - len(FILES["README.md"]))

        with open(os.path.join(repo, "refs", "main"), "rb") as f:
            self.assertEqual(f.read(), self.commit.encode())  # no trailing newline
        for path, data in FILES.items():
            link = os.path.join(snap, path)
            self.assertTrue(os.path.islink(link), path)
            etag = sha256(data) if path.endswith(".safetensors") else git_blob_sha1(data)
            depth = path.count("/")
            self.assertEqual(os.readlink(link), "../../" + "../" * depth + "blobs/" + etag)
            with open(link, "rb") as f:
                self.assertEqual(f.read(), data)
        blobs = os.listdir(os.path.join(repo, "blobs"))
        self.assertEqual(len(blobs), len(FILES) - 1)  # README and its twin share a blob
        self.assertFalse([b for b in blobs if b.endswith(".incomplete")])
        self.assertTrue(os.path.isfile(os.path.join(self.cache, "CACHEDIR.TAG")))
        self.assertExit(run(["verify", "org/tiny", "--cache-dir", self.cache]), 0)

    def test_second_download_is_all_cached(self):
        self.assertExit(self.download("org/tiny"), 0)
        before = len(self.serve.requests())
        p = self.download("org/tiny")
        self.assertExit(p, 0)
        out = json.loads(p.stdout)
        self.assertEqual(out["bytes_http"], 0)
        self.assertEqual(out["bytes_cached"], out["bytes_total"])
        new = self.serve.requests()[before:]
        self.assertFalse([r for r in new if "/resolve/" in r], new)

    def test_events_as_ndjson(self):
        for attempt in ("fresh", "cached"):
            p = run(["download", "org/tiny", "--endpoint", self.serve.url, "--cache-dir", self.cache, "--events"])
            self.assertExit(p, 0)
            events = [json.loads(line) for line in p.stdout.splitlines()]
            self.assertEqual(events[0]["event"], "plan", attempt)
            self.assertEqual(events[-1]["event"], "done")
            self.assertEqual(events[-1]["commit"], self.commit)
            files = [e for e in events if e["event"] == "file"]
            self.assertEqual(sorted(e["path"] for e in files), sorted(FILES), attempt)
            for e in files:
                self.assertTrue(os.path.isfile(e["local_path"]))
                self.assertEqual(e["size"], len(FILES[e["path"]]))

    def test_include_exclude_and_explicit_files(self):
        p = self.download("org/tiny", "--include", "*.safetensors", "--exclude", "*00002*")
        self.assertExit(p, 0)
        snap = json.loads(p.stdout)["path"]
        self.assertEqual(self.files_under(snap), ["weights/model-00001.safetensors"])

        p = self.download("org/tiny", "config.json", "tokenizer/vocab.txt")
        self.assertExit(p, 0)
        self.assertEqual(json.loads(p.stdout)["files"], 2)
        self.assertTrue(os.path.exists(os.path.join(snap, "tokenizer", "vocab.txt")))

        p = self.download("org/tiny", "--include", "tokenizer/")
        self.assertExit(p, 0)
        self.assertEqual(json.loads(p.stdout)["files"], 1)

    def test_local_dir_mode(self):
        local = self.path("local")
        p = self.download("org/tiny", "--local-dir", local)
        self.assertExit(p, 0)
        self.assertEqual(json.loads(p.stdout)["path"], local)
        for path, data in FILES.items():
            with open(os.path.join(local, path), "rb") as f:
                self.assertEqual(f.read(), data)
            self.assertFalse(os.path.islink(os.path.join(local, path)))
            meta = os.path.join(local, ".cache", "huggingface", "download", path + ".metadata")
            with open(meta) as f:
                lines = f.read().split("\n")
            etag = sha256(data) if path.endswith(".safetensors") else git_blob_sha1(data)
            self.assertEqual(lines[0], self.commit)
            self.assertEqual(lines[1], etag)
            float(lines[2])
        p = self.download("org/tiny", "--local-dir", local)
        self.assertEqual(json.loads(p.stdout)["bytes_http"], 0)
        self.assertFalse(os.path.exists(os.path.join(self.cache, "models--org--tiny")))

    def test_revisions_pr_refs_commits_and_datasets(self):
        pr = import_repo(self.src, "org/tiny", {"only.txt": b"pr\n"}, revision="refs/pr/1")
        p = self.download("org/tiny", "--revision", "refs/pr/1")
        self.assertExit(p, 0)
        with open(os.path.join(self.cache, "models--org--tiny", "refs", "refs", "pr", "1")) as f:
            self.assertEqual(f.read(), pr)
        p = self.download("org/tiny", "--revision", self.commit)
        self.assertExit(p, 0)
        self.assertEqual(json.loads(p.stdout)["commit"], self.commit)
        import_repo(self.src, "org/set", {"data.csv": b"a,b\n1,2\n"}, repo_type="dataset")
        p = self.download("org/set", "--repo-type", "dataset")
        self.assertExit(p, 0)
        self.assertIn("datasets--org--set", json.loads(p.stdout)["path"])

    def test_tree_pagination(self):
        many = {"f%03d.txt" % i: b"%d\n" % i for i in range(25)}
        import_repo(self.src, "org/many", many)
        with Serve(self.src, "--page-size", "4") as small:
            p = run(["download", "org/many", "--endpoint", small.url, "--cache-dir", self.cache, "--json"])
            self.assertExit(p, 0)
            self.assertEqual(json.loads(p.stdout)["files"], 25)
            pages = [r for r in small.requests() if "/tree/" in r]
            self.assertEqual(len(pages), 7)

    def test_example_program_uses_the_public_api(self):
        example = os.path.join(EXAMPLES, "download_snapshot")
        env = dict(os.environ, HF_ENDPOINT=self.serve.url, HF_HUB_CACHE=self.cache)
        p = subprocess.run([example, "org/tiny"], capture_output=True, text=True, env=env, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertTrue(p.stdout.strip().endswith(self.commit))
        self.assertIn("ready: config.json", p.stderr)

    def test_env_cache_precedence(self):
        env = {"HF_HUB_CACHE": self.path("a"), "HF_HOME": self.path("home")}
        p = run(["download", "org/tiny", "config.json", "--endpoint", self.serve.url], env=env)
        self.assertExit(p, 0)
        self.assertTrue(p.stdout.startswith(self.path("a")))
        env = {"HF_HOME": self.path("home"), "HF_ENDPOINT": self.serve.url}
        p = run(["download", "org/tiny", "config.json"], env=env)
        self.assertExit(p, 0)
        self.assertTrue(p.stdout.startswith(self.path("home", "hub")))


if __name__ == "__main__":
    unittest.main()
