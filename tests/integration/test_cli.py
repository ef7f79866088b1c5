"""What a person sees: the progress bar on a terminal, quiet otherwise, and
verify naming each bad file."""

import os
import pty
import subprocess
import time
import unittest

from harness import LLMPT, Serve, TestCase, import_repo, run

FILES = {"config.json": b"{}\n", "model.bin": os.urandom(4 * 1024 * 1024), "b.txt": b"b\n"}


class CliTest(TestCase):
    def test_progress_bar_on_a_terminal_only(self):
        src = self.path("srv")
        import_repo(src, "org/m", FILES)
        with Serve(src) as s:
            master, slave = pty.openpty()
            env = dict(os.environ, HF_HOME=self.path("home"))
            proc = subprocess.Popen([LLMPT, "download", "org/m", "--endpoint", s.url, "--cache-dir",
                                     self.path("c1")], stdout=subprocess.PIPE, stderr=slave, env=env)
            os.close(slave)
            out, _ = proc.communicate(timeout=60)
            chunks = []
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                try:
                    data = os.read(master, 65536)
                except OSError:
                    break
                if not data:
                    break
                chunks.append(data)
            os.close(master)
            tty = b"".join(chunks).decode(errors="replace")
            self.assertEqual(proc.returncode, 0, tty)
            self.assertIn("3 files", tty)
            self.assertIn("100%", tty)
            self.assertIn("ETA", tty)
            p = run(["download", "org/m", "--endpoint", s.url, "--cache-dir", self.path("c2")])
            self.assertExit(p, 0)
            self.assertEqual(p.stderr, "")  # not a terminal: quiet

    def test_verify_names_each_bad_file(self):
        cache = self.path("c")
        commit = import_repo(cache, "org/m", FILES)
        self.assertExit(run(["verify", "org/m", "--cache-dir", cache]), 0)
        snap = os.path.join(cache, "models--org--m", "snapshots", commit)
        for name in ("model.bin", "b.txt"):
            blob = os.path.realpath(os.path.join(snap, name))
            with open(blob, "r+b") as f:  # a changed first byte (urandom may start with any)
                first = f.read(1)
                f.seek(0)
                f.write(bytes([first[0] ^ 0xFF]))
        p = run(["verify", "org/m", "--cache-dir", cache])
        self.assertExit(p, 6)
        self.assertIn("BAD model.bin: sha256 mismatch", p.stdout)
        self.assertIn("BAD b.txt: git-sha1 mismatch", p.stdout)
        self.assertNotIn("config.json", p.stdout)
        self.assertExit(run(["verify", "org/none", "--cache-dir", cache]), 3)


if __name__ == "__main__":
    unittest.main()
