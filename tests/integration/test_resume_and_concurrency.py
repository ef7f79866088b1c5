"""kill -9 in the middle of a download, then run it again: the bytes already
on disk are kept. Two processes on one cache: both succeed, each blob is
written once."""

import glob
import json
import os
import signal
import subprocess
import time
import unittest

from harness import LLMPT, FakeHub, TestCase, run

FILES = {
    "config.json": b'{"a": 1}\n',
    "model.bin": os.urandom(6 * 1024 * 1024),
}
TOTAL = sum(len(v) for v in FILES.values())


def journal_bytes(cache):
    """Bytes the resume journals say are on disk."""
    total = 0
    for j in glob.glob(os.path.join(cache, ".locks", "*", "*.parts")):
        with open(j) as f:
            lines = f.read().split("\n")[1:]
        total += sum(int(x) for x in lines if x.strip())
    return total


def wait_for_journal(cache, at_least, timeout=30):
    """Waits (bounded) until the journals say `at_least` bytes are on disk."""
    deadline = time.monotonic() + timeout
    while journal_bytes(cache) < at_least and time.monotonic() < deadline:
        time.sleep(0.05)
    return journal_bytes(cache)


class ResumeTest(TestCase):
    def start_download(self, hub, cache, *extra):
        env = dict(os.environ, HF_HOME=self.path("home"))
        return subprocess.Popen([LLMPT, "download", "org/fake", "--endpoint", hub.url, "--cache-dir", cache,
                                 "--json", "--chunk-size", "1", "--connections", "2"] + list(extra),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)

    def test_kill_9_then_resume_keeps_the_bytes(self):
        cache = self.path("cache")
        with FakeHub(FILES, "slow", rate=1024 * 1024) as hub:
            proc = self.start_download(hub, cache)
            kept = wait_for_journal(cache, 1024 * 1024)
            proc.send_signal(signal.SIGKILL)
            proc.communicate(timeout=10)
            self.assertGreaterEqual(kept, 1024 * 1024, "the download made no progress")
            self.assertTrue(glob.glob(os.path.join(cache, "models--org--fake", "blobs", "*.incomplete")))

            hub.mode = "ok"
            p = run(["download", "org/fake", "--endpoint", hub.url, "--cache-dir", cache, "--json",
                     "--chunk-size", "1"])
            self.assertExit(p, 0)
            out = json.loads(p.stdout)
            self.assertEqual(out["bytes_total"], TOTAL)
            self.assertGreaterEqual(out["bytes_cached"], kept)
            self.assertEqual(out["bytes_http"] + out["bytes_cached"], TOTAL)
        self.assertExit(run(["verify", "org/fake", "--cache-dir", cache]), 0)
        self.assertFalse(glob.glob(os.path.join(cache, "models--org--fake", "blobs", "*.incomplete")))
        self.assertFalse(glob.glob(os.path.join(cache, ".locks", "*", "*.parts")))

    def test_interrupt_exits_130_and_resumes(self):
        cache = self.path("cache")
        with FakeHub(FILES, "slow", rate=1024 * 1024) as hub:
            proc = self.start_download(hub, cache)
            wait_for_journal(cache, 512 * 1024)
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=20)
            self.assertEqual(proc.returncode, 130, err)
            self.assertIn("resume", err)
            hub.mode = "ok"
            p = run(["download", "org/fake", "--endpoint", hub.url, "--cache-dir", cache, "--json",
                     "--chunk-size", "1"])
            self.assertExit(p, 0)
            self.assertGreater(json.loads(p.stdout)["bytes_cached"], 0)

    def test_two_processes_one_cache(self):
        cache = self.path("cache")
        with FakeHub(FILES, "slow", rate=4 * 1024 * 1024) as hub:
            a = self.start_download(hub, cache)
            b = self.start_download(hub, cache)
            outs = []
            for proc in (a, b):
                out, err = proc.communicate(timeout=60)
                self.assertEqual(proc.returncode, 0, err)
                outs.append(json.loads(out))
        self.assertEqual(outs[0]["path"], outs[1]["path"])
        # each blob came over the wire once, whichever process fetched it
        self.assertEqual(sum(o["bytes_http"] for o in outs), TOTAL)
        self.assertExit(run(["verify", "org/fake", "--cache-dir", cache]), 0)


if __name__ == "__main__":
    unittest.main()
