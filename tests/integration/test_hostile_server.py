"""A Hub that lies: about content, about size, ignores Range, cuts
transfers short. Nothing wrong ever reaches blobs/."""

import json
import os
import resource
import time
import unittest

from harness import FakeHub, TestCase, run

FILES = {
    "config.json": b'{"a": 1}\n',
    "model.bin": os.urandom(5 * 1024 * 1024 + 3),
}


class HostileServerTest(TestCase):
    def download(self, hub, *args):
        return run(["download", "org/fake", "--endpoint", hub.url, "--cache-dir", self.path("cache"),
                    "--json"] + list(args))

    def blobs(self):
        d = self.path("cache", "models--org--fake", "blobs")
        return sorted(os.listdir(d)) if os.path.isdir(d) else []

    def test_wrong_content_is_refetched_once_then_exit_6(self):
        with FakeHub(FILES, "bad-content") as hub:
            p = self.download(hub, "--include", "config.json")
            self.assertExit(p, 6)
            self.assertIn("does not match its hash", p.stderr)
            gets = [h for h in hub.hits if "/resolve/" in h[1] and "config.json" in h[1]]
            self.assertEqual(len(gets), 2)  # fetched once more, then reported
        self.assertEqual(self.blobs(), [])
        self.assertFalse(os.path.exists(self.path("cache", "models--org--fake", "refs", "main")))
        with FakeHub(FILES, "bad-content") as hub:
            self.assertExit(self.download(hub), 6)  # several files at once
        self.assertEqual(self.blobs(), [])

    def test_wrong_size_is_exit_6(self):
        with FakeHub(FILES, "bad-size") as hub:
            p = self.download(hub)
            self.assertExit(p, 6)
        self.assertEqual(self.blobs(), [])

    def test_server_ignoring_range_restarts_the_file_cleanly(self):
        with FakeHub(FILES, "ignore-range") as hub:
            p = self.download(hub, "--connections", "4", "--chunk-size", "1")
            self.assertExit(p, 0)
            gets = [h for h in hub.hits if "model.bin" in h[1]]
            self.assertGreater(len(gets), 1)  # a ranged try, then the whole file
        self.assertExit(run(["verify", "org/fake", "--cache-dir", self.path("cache")]), 0)

    def test_a_server_that_ignores_range_and_cuts_bodies_short_ends_in_exit_5(self):
        # Every resume gets a 200 and the file starts over: restarts count
        # as failures, so this ends instead of going on forever.
        with FakeHub(FILES, "ignore-range-truncate") as hub:
            t0 = time.monotonic()
            p = self.download(hub, "--include", "model.bin")
            self.assertExit(p, 5)
            self.assertIn("ignores Range", p.stderr)
            self.assertLess(time.monotonic() - t0, 90)
            gets = [h for h in hub.hits if "/resolve/" in h[1]]
            self.assertLess(len(gets), 40, len(gets))
        # Nothing reached blobs/ (the partial temp file stays for a resume).
        self.assertEqual([b for b in self.blobs() if not b.endswith(".incomplete")], [])

    def test_a_body_trickling_at_one_byte_a_second_ends_in_exit_5(self):
        # Each attempt stalls (HF_HUB_DOWNLOAD_TIMEOUT: 2 s below 1 KiB/s)
        # and the few bytes it gained do not count as progress.
        with FakeHub(FILES, "trickle") as hub:
            t0 = time.monotonic()
            p = run(["download", "org/fake", "--endpoint", hub.url, "--cache-dir", self.path("cache"),
                     "--include", "model.bin"], env={"HF_HUB_DOWNLOAD_TIMEOUT": "2"})
            self.assertExit(p, 5)
            self.assertLess(time.monotonic() - t0, 90)
        self.assertEqual([b for b in self.blobs() if not b.endswith(".incomplete")], [])

    def test_an_endless_file_list_is_refused_with_bounded_memory(self):
        with FakeHub(FILES, "endless-tree") as hub:
            p = self.download(hub)
            self.assertExit(p, 1)
            self.assertIn("more than 300000 files", p.stderr)
            self.assertLessEqual(hub.pages, 61)  # 300,000 files at 5,000 a page, then it stopped
            # The largest child so far is this download (the others fetched a few MiB).
            rss_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
            if os.environ.get("LLMPT_SANITIZED"):
                # Under AddressSanitizer its quarantine of freed memory (256 MiB)
                # and redzones are most of the RSS (about 527 MiB here, against
                # 79 MiB without); the normal tier checks the bound.
                self.skipTest("peak RSS %d KiB under %s: the bound is checked without sanitizers"
                              % (rss_kib, os.environ["LLMPT_SANITIZED"]))
            self.assertLess(rss_kib, 512 * 1024, "peak RSS %d KiB" % rss_kib)

    def test_truncated_responses_are_resumed(self):
        with FakeHub(FILES, "truncate-once") as hub:
            p = self.download(hub)
            self.assertExit(p, 0)
            out = json.loads(p.stdout)
            # the bytes before the cut were kept: only the rest came again
            self.assertEqual(out["bytes_http"], out["bytes_total"])
            ranged = [h for h in hub.hits if h[2] and h[2] != "bytes=0-"]
            self.assertTrue(ranged, hub.hits)
        self.assertExit(run(["verify", "org/fake", "--cache-dir", self.path("cache")]), 0)

    def test_busy_hub_is_retried_honouring_retry_after(self):
        with FakeHub(FILES, "flaky") as hub:
            t0 = time.monotonic()
            p = self.download(hub)
            self.assertExit(p, 0)
            self.assertGreaterEqual(time.monotonic() - t0, 1.0)  # Retry-After: 1 was honoured
            paths = [h[1] for h in hub.hits]
            self.assertEqual(paths.count(paths[0]), 2)  # the revision call was retried
        self.assertExit(run(["verify", "org/fake", "--cache-dir", self.path("cache")]), 0)

    def test_a_rate_limited_hub_is_waited_for_as_its_ratelimit_header_says(self):
        # The Hub's 429 carries no Retry-After, only RateLimit: "api";r=0;t=2.
        with FakeHub(FILES, "rate-limited") as hub:
            p = self.download(hub)
            self.assertExit(p, 0)
            self.assertIn("HTTP 429 (rate limited)", p.stderr)
            self.assertIn("waiting 2 s as the server asks", p.stderr)
            first = {}
            for (_, path, _), t in zip(hub.hits, hub.times):
                if path in first:  # the retry came after the reset, not before
                    self.assertGreaterEqual(t - first[path], 1.9, path)
                else:
                    first[path] = t
            self.assertEqual(len(hub.hits), 2 * len(first))
        self.assertExit(run(["verify", "org/fake", "--cache-dir", self.path("cache")]), 0)

    def test_a_hub_that_asks_for_an_hour_ends_the_download_at_once_with_the_reason(self):
        with FakeHub(FILES, "rate-limited-long") as hub:
            p = self.download(hub)
            self.assertExit(p, 5)
            self.assertIn("asks to wait 3600 s", p.stderr)
            self.assertIn("LLMPT_MAX_SERVER_WAIT", p.stderr)
            self.assertEqual(len(hub.hits), 1)  # no retry against an hour-long quota
        self.assertEqual(self.blobs(), [])

    def test_redirect_to_another_host_drops_the_token(self):
        with FakeHub(FILES, "redirect-other-host") as hub:
            p = self.download(hub, "--token", "sekrit")
            self.assertExit(p, 0)
            self.assertEqual(len(hub.cdn_auth), len(FILES))
            self.assertEqual(hub.cdn_auth, [None] * len(FILES))
        self.assertExit(run(["verify", "org/fake", "--cache-dir", self.path("cache")]), 0)

    def test_endpoint_without_paths_info_falls_back_to_head(self):
        with FakeHub(FILES) as hub:
            p = self.download(hub, "model.bin", "config.json")
            self.assertExit(p, 0)
            self.assertEqual(json.loads(p.stdout)["files"], 2)
            self.assertEqual(len([h for h in hub.hits if h[0] == "HEAD"]), 2)
            p = self.download(hub, "missing.bin")
            self.assertExit(p, 3)
        self.assertExit(run(["verify", "org/fake", "--cache-dir", self.path("cache")]), 0)


if __name__ == "__main__":
    unittest.main()
