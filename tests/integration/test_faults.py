"""Cache metadata faults: rename, symlink, link and fsync fail (ENOSPC, EIO)
at each call of a download in turn, injected with strace. After each, the
cache is as before or complete, never broken by huggingface_hub's layout
rules, and the next run succeeds."""

import collections
import os
import re
import shutil
import subprocess
import unittest

from harness import LLMPT, FakeHub, TestCase, git_blob_sha1, run, sha256

FILES = {
    "config.json": b'{"a": 1}\n',
    "model.bin": os.urandom(3 * 1024 * 1024 + 11),
    "sub/tokenizer.json": b"[]\n",
}
CALLS = ["rename", "renameat", "renameat2", "symlink", "symlinkat", "link", "linkat", "fsync", "fdatasync"]


def traced(cmd, inject=None, log=None):
    """`llmpt cmd` under strace: the metadata calls traced into `log`, and
    `inject` ("rename:error=EIO:when=2") failed as asked."""
    args = ["strace", "-f", "-qq", "-e", "trace=" + ",".join(CALLS), "-o", log or os.devnull]
    if inject:
        args += ["-e", "inject=" + inject]
    env = dict(os.environ, HF_HOME="/nonexistent-hf-home")
    env.pop("HF_TOKEN", None)
    # LeakSanitizer stops the world with ptrace, which strace holds already.
    env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + ":detect_leaks=0"
    return subprocess.run(args + [LLMPT] + cmd, capture_output=True, text=True, env=env, timeout=120)


@unittest.skipUnless(shutil.which("strace"), "needs strace (the set-up installs it)")
class MetadataFaultTest(TestCase):
    connections = "8"
    errors = ("ENOSPC", "EIO")
    repo = "org/fake"

    def download(self, hub):
        return ["download", "org/fake", "--endpoint", hub.url, "--cache-dir", self.path("cache"),
                "--connections", self.connections]

    def calls(self, hub):
        """How often each thread makes each call in a clean download: strace
        counts injections per thread, so `when=N` fails every thread's Nth."""
        log = self.path("calls.log")
        p = traced(self.download(hub), log=log)
        self.assertEqual(p.returncode, 0, p.stderr)
        per_thread = collections.Counter()
        with open(log) as f:
            lines = f.readlines()
        for line in lines:
            m = re.match(r"(\d+)\s+(\w+)\(", line)
            if m:
                per_thread[(m.group(2), m.group(1))] += 1
        most = collections.Counter()
        for (call, _), n in per_thread.items():
            most[call] = max(most[call], n)
        shutil.rmtree(self.path("cache"))
        return most

    def assert_not_broken(self):
        """The huggingface_hub layout holds: every blob has its name's
        content, every snapshot entry is a link to a blob, no temp file is
        left among the snapshot's files or refs, a ref names a snapshot."""
        repo = self.path("cache", "models--" + self.repo.replace("/", "--"))
        if not os.path.isdir(repo):
            return
        blobs = os.path.join(repo, "blobs")
        for name in os.listdir(blobs) if os.path.isdir(blobs) else []:
            if name.endswith(".incomplete"):
                continue  # a resumable partial, invisible to huggingface_hub
            with open(os.path.join(blobs, name), "rb") as f:
                data = f.read()
            self.assertEqual(sha256(data) if len(name) == 64 else git_blob_sha1(data), name)
        for top in ("snapshots", "refs"):
            for d, _, names in os.walk(os.path.join(repo, top)):
                for n in names:
                    p = os.path.join(d, n)
                    self.assertNotRegex(n, r"\.tmp$|\.incomplete$", "left behind: " + p)
                    if top == "snapshots":
                        self.assertTrue(os.path.islink(p), p)
                        self.assertTrue(os.path.exists(p), "dangling: " + p)
        ref = os.path.join(repo, "refs", "main")
        if os.path.exists(ref):
            with open(ref) as f:
                commit = f.read().strip()
            self.assertTrue(os.path.isdir(os.path.join(repo, "snapshots", commit)))
            self.assertExit(run(["verify", self.repo, "--cache-dir", self.path("cache")]), 0)

    def test_each_metadata_call_failing_leaves_a_cache_that_works(self):
        # Eight connections: a thread per file. One: one thread makes every
        # file's calls, so `when=N` walks through them one by one.
        for self.connections in ("8", "1"):
            with self.subTest(connections=self.connections):
                self.each_call_fails_in_turn()

    def each_call_fails_in_turn(self):
        with FakeHub(FILES) as hub:
            most = self.calls(hub)
            self.assertGreater(most["rename"] + most["renameat"] + most["renameat2"], 0, most)
            self.assertGreater(most["symlink"] + most["symlinkat"], 0, most)
            for call, n in sorted(most.items()):
                for when in range(1, n + 1):
                    for err in self.errors:
                        with self.subTest(call=call, when=when, error=err):
                            p = traced(self.download(hub), "%s:error=%s:when=%d" % (call, err, when))
                            self.assertGreaterEqual(p.returncode, 0, "killed by a signal: " + p.stderr[-2000:])
                            if p.returncode:
                                self.assertIn("llmpt: error:", p.stderr)
                                self.assertEqual(p.returncode, 7 if err == "ENOSPC" else p.returncode)
                            self.assert_not_broken()
                            again = run(self.download(hub))
                            self.assertExit(again, 0)
                            self.assert_not_broken()
                            self.assertExit(run(["verify", self.repo, "--cache-dir", self.path("cache")]), 0)
                            shutil.rmtree(self.path("cache"))


if __name__ == "__main__":
    unittest.main()
