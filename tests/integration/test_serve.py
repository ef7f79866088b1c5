"""llmpt serve answers the Hub protocol (docs/design.md, "The Hub protocol") and refuses what is not
(traversal, absurd ranges, huge headers), under many clients at once."""

import concurrent.futures
import json
import os
import unittest
import urllib.request

from harness import Serve, TestCase, git_blob_sha1, import_repo, raw_request, sha256

BIG = os.urandom(2 * 1024 * 1024 + 11)
FILES = {"config.json": b'{"x": 1}\n', "weights/model.safetensors": BIG, "a b.txt": b"space\n"}


def fetch(url, method="GET", headers=None, data=None):
    req = urllib.request.Request(url, method=method, headers=headers or {}, data=data)
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


class ServeTest(TestCase):
    def setUp(self):
        super().setUp()
        self.cache = self.path("cache")
        self.commit = import_repo(self.cache, "org/m", FILES)
        with open(self.path("secret.txt"), "w") as f:
            f.write("outside the cache")
        self.s = Serve(self.cache)

    def tearDown(self):
        self.s.stop()
        super().tearDown()

    def test_revision_tree_and_paths_info(self):
        st, _, body = fetch(self.s.url + "/api/models/org/m/revision/main?blobs=true")
        self.assertEqual(st, 200)
        info = json.loads(body)
        self.assertEqual(info["sha"], self.commit)
        sib = {s["rfilename"]: s for s in info["siblings"]}
        self.assertEqual(sib["weights/model.safetensors"]["lfs"]["sha256"], sha256(BIG))
        st, _, body = fetch(self.s.url + "/api/models/org/m/tree/main?recursive=true")
        tree = {e["path"]: e for e in json.loads(body)}
        self.assertEqual(tree["weights"]["type"], "directory")
        self.assertEqual(tree["config.json"]["oid"], git_blob_sha1(FILES["config.json"]))
        self.assertEqual(tree["weights/model.safetensors"]["lfs"]["oid"], sha256(BIG))
        st, _, body = fetch(self.s.url + "/api/models/org/m/tree/main")
        self.assertEqual(sorted(e["path"] for e in json.loads(body)), ["a b.txt", "config.json", "weights"])
        st, _, body = fetch(self.s.url + "/api/models/org/m/paths-info/" + self.commit, "POST",
                            {"Content-Type": "application/json"},
                            json.dumps({"paths": ["config.json", "nope"], "expand": True}).encode())
        self.assertEqual([e["path"] for e in json.loads(body)], ["config.json"])
        st, _, body = fetch(self.s.url + "/api/models/org/m/paths-info/main", "POST",
                            {"Content-Type": "application/x-www-form-urlencoded"},
                            b"paths=config.json&paths=a+b.txt&expand=True")
        self.assertEqual(sorted(e["path"] for e in json.loads(body)), ["a b.txt", "config.json"])

    def test_resolve_head_get_and_ranges(self):
        url = self.s.url + "/org/m/resolve/main/weights/model.safetensors"
        st, h, _ = fetch(url, "HEAD")
        self.assertEqual(st, 200)
        self.assertEqual(h["X-Repo-Commit"], self.commit)
        self.assertEqual(h["X-Linked-Etag"], '"%s"' % sha256(BIG))
        self.assertEqual(int(h["X-Linked-Size"]), len(BIG))
        self.assertEqual(int(h["Content-Length"]), len(BIG))
        self.assertEqual(h["Accept-Ranges"], "bytes")
        st, _, body = fetch(url)
        self.assertEqual(body, BIG)
        st, h, body = fetch(url, headers={"Range": "bytes=10-19"})
        self.assertEqual(st, 206)
        self.assertEqual(body, BIG[10:20])
        self.assertEqual(h["Content-Range"], "bytes 10-19/%d" % len(BIG))
        st, h, body = fetch(url, headers={"Range": "bytes=-5"})
        self.assertEqual(body, BIG[-5:])
        for bad in ("bytes=%d-" % len(BIG), "bytes=5-1", "bytes=99999999999999999999999-", "chars=1-2"):
            st, h, _ = fetch(url, headers={"Range": bad})
            self.assertEqual(st, 416, bad)
            self.assertEqual(h["Content-Range"], "bytes */%d" % len(BIG))
        st, h, body = fetch(self.s.url + "/org/m/resolve/main/a%20b.txt")
        self.assertEqual(body, b"space\n")
        self.assertEqual(h["ETag"], '"%s"' % git_blob_sha1(b"space\n"))

    def test_errors_carry_x_error_code(self):
        cases = {"/api/models/org/none/revision/main": (404, "RepoNotFound"),
                 "/api/models/org/m/revision/nope": (404, "RevisionNotFound"),
                 "/org/m/resolve/main/missing.txt": (404, "EntryNotFound"),
                 "/datasets/org/m/resolve/main/config.json": (404, "RepoNotFound")}
        for path, (status, code) in cases.items():
            st, h, body = fetch(self.s.url + path)
            self.assertEqual((st, h.get("X-Error-Code")), (status, code), path)
            self.assertIn("error", json.loads(body))

    def test_traversal_never_leaves_the_cache(self):
        for target in ("/org/m/resolve/main/../../../secret.txt",
                       "/org/m/resolve/main/%2e%2e/%2e%2e/%2e%2e/secret.txt",
                       "/org/m/resolve/main/weights%2F..%2F..%2F..%2Fsecret.txt",
                       "/org/m/resolve/..%2F..%2F/config.json",
                       "/_cdn/..%2F..%2F/secret.txt",
                       "/_cdn/models--org--m/..",
                       "/api/models/org/m/tree/main/..%2F..",
                       "/org/m/resolve/main/%00",
                       "/../../etc/passwd"):
            answer = raw_request(self.s.port, ("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % target).encode())
            status = int(answer.split(b" ")[1])
            self.assertTrue(400 <= status < 500, (target, answer[:200]))
            self.assertNotIn(b"outside the cache", answer)

    def test_huge_headers_and_garbage(self):
        answer = raw_request(self.s.port, b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100000 + b"\r\n\r\n")
        self.assertIn(b" 431 ", answer.split(b"\r\n")[0])
        answer = raw_request(self.s.port, b"\x16\x03\x01garbage\r\n\r\n")
        self.assertIn(b" 400 ", answer.split(b"\r\n")[0])
        body = b"x" * (2 * 1024 * 1024)
        answer = raw_request(self.s.port, b"POST /api/models/org/m/paths-info/main HTTP/1.1\r\nHost: x\r\n"
                             b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.assertIn(b" 413 ", answer.split(b"\r\n")[0])

    def test_invalid_utf8_after_decoding_is_a_clean_client_error(self):
        for path in (b"/org/m/resolve/main/config.json%ff", b"/api/models/org/m%c3/revision/main",
                     b"/org/m/resolve/%fe%ff/config.json"):
            answer = raw_request(self.s.port, b"GET " + path + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            head, _, body = answer.partition(b"\r\n\r\n")
            status = int(head.split(b" ")[1])
            self.assertIn(status, (400, 404), answer[:300])
            self.assertIn("error", json.loads(body), body)
            self.assertNotIn(b"json.exception", body)

    def test_many_concurrent_clients(self):
        url = self.s.url + "/org/m/resolve/main/weights/model.safetensors"
        with concurrent.futures.ThreadPoolExecutor(32) as pool:
            results = list(pool.map(lambda _: fetch(url)[2], range(64)))
        self.assertTrue(all(r == BIG for r in results))

    def test_redirect_mode(self):
        with Serve(self.cache, "--redirect") as r:
            req = urllib.request.Request(r.url + "/org/m/resolve/main/weights/model.safetensors", method="HEAD")

            class NoRedirect(urllib.request.HTTPRedirectHandler):
                def redirect_request(self, *a, **k):
                    return None

            opener = urllib.request.build_opener(NoRedirect)
            try:
                opener.open(req, timeout=10)
                self.fail("expected a 302")
            except urllib.error.HTTPError as e:
                self.assertEqual(e.code, 302)
                self.assertEqual(e.headers["X-Linked-Etag"], '"%s"' % sha256(BIG))
                self.assertTrue(e.headers["Location"].startswith("/_cdn/models--org--m/"))
            st, _, body = fetch(r.url + "/org/m/resolve/main/weights/model.safetensors")
            self.assertEqual(body, BIG)
            st, _, body = fetch(r.url + "/org/m/resolve/main/config.json")  # small files: no redirect
            self.assertEqual(body, FILES["config.json"])


if __name__ == "__main__":
    unittest.main()
