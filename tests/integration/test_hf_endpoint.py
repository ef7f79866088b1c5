"""The daemon's HF endpoint (`--hub-listen`): any Hub client, pointed at it
with HF_ENDPOINT, downloads through llmpt. Clients here: Python's urllib
speaking the protocol as huggingface_hub does (HEAD without following
redirects, then GET with Range resume), and @huggingface/hub from npm.

The origin is a real `llmpt serve --redirect` (LFS files answer 302 with
X-Linked-* headers, as the Hub does); peers are python3-libtorrent seeders
announced on our tracker."""

import concurrent.futures
import http.client as httpc
import json
import os
import socket
import time
import unittest
import urllib.error
import urllib.request

from harness import Serve, import_repo, raw_request, run, write_tree
from js_harness import available, hfjs
from p2p_harness import PySeeder
from test_daemon import DaemonCase, api, wait_for
from tracker_harness import Tracker, http, make_torrent, publish_body

BIG = os.urandom(8 * 1024 * 1024 + 5)
FILES = {"config.json": b'{"a": 1}\n', "model.safetensors": BIG, "sub/tok.txt": b"a\nb\n",
         "tokenizer.json": b'{"v": []}\n', "sub/a.txt": b"a\n", "sub/b.txt": b"b\n"}


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *a, **k):
        return None


def head(url, token=None):
    """(status, headers) of a HEAD that does not follow redirects."""
    req = urllib.request.Request(url, method="HEAD")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.build_opener(NoRedirect).open(req, timeout=30) as r:
            return r.status, r.headers
    except urllib.error.HTTPError as e:
        return e.code, e.headers


def get(url, headers=None, timeout=60):
    """(status, headers, body); HTTP errors are answers too."""
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def resolve_gets(serve, path):
    """The origin's log lines of GETs for `path` (HEADs are metadata)."""
    return [l for l in serve.requests() if " GET " in l and "/resolve/" in l and l.split(" ")[2].endswith(path)]


class EndpointCase(DaemonCase):
    def setUp(self):
        super().setUp()
        self.origin_cache = self.path("origin")
        self.commit = import_repo(self.origin_cache, "org/m", FILES)
        self.origin = Serve(self.origin_cache, "--redirect")
        self.tracker = Tracker(self.path("t.db"))
        self.seeders = []
        # No web seeds, a patient swarm: what peers do is what the test sees.
        self.env.update({"LLMPT_WEBSEED": "0", "LLMPT_P2P_TIMEOUT": "60"})

    def tearDown(self):
        for s in self.seeders:
            s.stop()
        super().tearDown()
        self.tracker.stop()
        if self.origin:
            self.origin.stop()

    def start_endpoint(self, *extra):
        self.start(self.tracker.url, None, "--hub-listen", "127.0.0.1:0", "--endpoint", self.origin.url, *extra)
        status = run(["daemon", "status", "--cache-dir", self.cache, "--json"], env=self.env)
        self.assertExit(status, 0)
        self.hub = json.loads(status.stdout)[0]["hub"]
        self.assertTrue(self.hub.startswith("http://127.0.0.1:"), self.hub)
        return self.hub

    def seed_from_peer(self, files=FILES, upload_rate=0):
        """A second machine holding the snapshot, on the tracker."""
        root = self.path("peer")
        write_tree(os.path.join(root, self.commit), files)
        data = make_torrent(os.path.join(root, self.commit))
        self.assertEqual(http(self.tracker.url + "/api/v1/publish", "POST",
                              publish_body("org/m", self.commit, data))[0], 200)
        s = PySeeder(data, root, self.tracker.url, upload_rate=upload_rate)
        self.seeders.append(s)
        return s

    def wait_tasks_ended(self):
        """Until every task of the daemon is done, failed or cancelled (bounded)."""
        ended = ("done", "failed", "cancelled")
        wait_for("the daemon's tasks to end",
                 lambda: all(t["state"] in ended for t in api(self.sock, "GET", "/v1/tasks")[1]))

    def url(self, path, rev=None):
        return "%s/org/m/resolve/%s/%s" % (self.hub, rev or self.commit, path)


class ProtocolTest(EndpointCase):
    def test_head_answers_as_the_hub_does_without_a_redirect(self):
        self.start_endpoint()
        st, h = head(self.url("model.safetensors", "main"))
        self.assertEqual(st, 200)  # not the origin's 302: the client downloads from us
        ost, oh = head("%s/org/m/resolve/main/model.safetensors" % self.origin.url)
        self.assertEqual(ost, 302)
        for name in ("X-Repo-Commit", "ETag", "X-Linked-Etag", "X-Linked-Size"):
            self.assertEqual(h[name], oh[name], name)
        self.assertEqual(int(h["Content-Length"]), len(BIG))
        self.assertIsNone(h["Location"])
        st, h = head(self.url("config.json", "main"))
        self.assertEqual((st, int(h["Content-Length"]), h["X-Repo-Commit"]), (200, len(FILES["config.json"]), self.commit))

    def test_get_resumes_with_range_after_a_cut_connection(self):
        self.start_endpoint()
        host, port = self.hub[len("http://"):].split(":")
        # The client reads part of the file and drops the connection.
        conn = httpc.HTTPConnection(host, int(port), timeout=60)
        conn.request("GET", "/org/m/resolve/main/model.safetensors")
        r = conn.getresponse()
        self.assertEqual(r.status, 200)
        self.assertEqual(int(r.getheader("Content-Length")), len(BIG))
        self.assertEqual(r.getheader("X-Repo-Commit"), self.commit)
        part = r.read(3 * 1024 * 1024 + 7)
        conn.close()
        self.assertEqual(part, BIG[:len(part)])
        # It resumes where it stopped, as huggingface_hub does.
        st, h, rest = get(self.url("model.safetensors", "main"), {"Range": "bytes=%d-" % len(part)})
        self.assertEqual(st, 206)
        self.assertEqual(h["Content-Range"], "bytes %d-%d/%d" % (len(part), len(BIG) - 1, len(BIG)))
        self.assertEqual(part + rest, BIG)
        # The daemon's cache holds the verified snapshot once its task ends
        # (the client may have every byte of this file while the task still
        # places the others and writes refs/ last), and seeds it.
        self.wait_tasks_ended()
        self.assertExit(run(["verify", "org/m", "--cache-dir", self.cache]), 0)
        wait_for("the daemon seeding the snapshot",
                 lambda: any(s["revision"] == self.commit for s in api(self.sock, "GET", "/v1/seeds")[1]))

    def test_metadata_passes_through_with_the_hubs_errors(self):
        self.start_endpoint()
        st, h, body = get(self.hub + "/api/models/org/m/revision/main")
        self.assertEqual(st, 200)
        self.assertEqual(json.loads(body)["sha"], self.commit)
        st, h, body = get(self.hub + "/api/models/org/nothing/revision/main")
        self.assertEqual((st, h["X-Error-Code"]), (404, "RepoNotFound"))
        st, h = head(self.url("missing.txt"))
        self.assertEqual((st, h["X-Error-Code"]), (404, "EntryNotFound"))
        # Unknown GETs pass through; other methods are not ours.
        st, _, _ = get(self.hub + "/api/whoami-v2")
        self.assertEqual(st, 404)  # the origin's answer
        req = urllib.request.Request(self.hub + "/api/repos/create", data=b"{}", method="POST")
        try:
            urllib.request.urlopen(req, timeout=30)
            self.fail("a POST to the Hub's API was accepted")
        except urllib.error.HTTPError as e:
            self.assertEqual(e.code, 501)
            self.assertIn("downloads only", json.loads(e.read())["error"])
        st, _, _ = get(self.hub + "/org/m/resolve/main/../../etc/passwd")
        self.assertEqual(st, 400)
        st, _, _ = get(self.hub + "/org/m/resolve/main/a/%2e%2e/%2e%2e/config.json")
        self.assertEqual(st, 400)

    def test_hostile_requests_meet_the_servers_limits(self):
        # The endpoint is the same HTTP server as `llmpt serve` and the
        # tracker: the same limits, on its own port.
        self.start_endpoint()
        port = int(self.hub.rsplit(":", 1)[1])
        answer = raw_request(port, b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100000 + b"\r\n\r\n")
        self.assertIn(b" 431 ", answer.split(b"\r\n")[0])
        answer = raw_request(port, b"\x16\x03\x01garbage\r\n\r\n")
        self.assertIn(b" 400 ", answer.split(b"\r\n")[0])
        body = b"x" * (2 * 1024 * 1024)
        answer = raw_request(port, b"POST /api/models/org/m/paths-info/main HTTP/1.1\r\nHost: x\r\n"
                             b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.assertIn(b" 413 ", answer.split(b"\r\n")[0])
        # A client that stops halfway through its headers holds up nobody.
        slow = socket.create_connection(("127.0.0.1", port))
        self.addCleanup(slow.close)
        slow.sendall(b"GET /api/models/org/m/revision/main HTTP/1.1\r\nHo")
        t0 = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(lambda _: get(self.hub + "/api/models/org/m/revision/main")[0], range(32)))
        self.assertEqual(answers, [200] * 32)
        self.assertLess(time.monotonic() - t0, 30)
        # (Its idle timeout drops it later: the server's, tested with the tracker.)

    def test_gated_repo_gives_the_hubs_401_and_403(self):
        self.origin.stop()
        self.origin = Serve(self.origin_cache, "--redirect", "--token", "s3cret")
        self.start_endpoint()
        st, h = head(self.url("config.json", "main"))
        self.assertEqual((st, h["X-Error-Code"]), (401, "GatedRepo"))
        st, h, body = get(self.url("config.json", "main"))
        self.assertEqual((st, h["X-Error-Code"]), (401, "GatedRepo"))
        self.assertIn("error", json.loads(body))
        st, h = head(self.url("config.json", "main"), token="wrong")
        self.assertEqual(st, 403)
        st, _, body = get(self.url("config.json", "main"), {"Authorization": "Bearer s3cret"})
        self.assertEqual((st, body), (200, FILES["config.json"]))

    def test_upstream_down_known_commit_still_resolves(self):
        self.start_endpoint()
        for path in FILES:
            self.assertEqual(get(self.url(path))[2], FILES[path])
        self.assertEqual(get(self.hub + "/api/models/org/m/revision/" + self.commit)[0], 200)
        self.origin.stop()
        self.origin = None
        st, h = head(self.url("model.safetensors"))
        self.assertEqual((st, h["X-Repo-Commit"]), (200, self.commit))
        st, _, body = get(self.url("model.safetensors"))
        self.assertEqual((st, body), (200, BIG))
        st, _, body = get(self.hub + "/api/models/org/m/revision/" + self.commit)
        self.assertEqual((st, json.loads(body)["sha"]), (200, self.commit))
        # Never asked while the Hub was up: the Hub's error shape.
        st, h, body = get(self.url("config.json", "0" * 40))
        self.assertEqual(st, 502)
        self.assertIn("cannot be reached", json.loads(body)["error"])
        self.assertIn("cannot be reached", h["X-Error-Message"])


    def test_upstream_down_a_listed_commit_comes_from_peers(self):
        self.start_endpoint()
        # While the Hub is up, the daemon learns the commit's file list,
        # fetching config.json alone.
        body = {"repo": "org/m", "revision": self.commit, "endpoint": self.origin.url, "tracker": self.tracker.url,
                "include": ["config.json"], "cache_dir": self.cache}
        st, task = api(self.sock, "POST", "/v1/tasks", json.dumps(body).encode(), {"Content-Type": "application/json"})
        self.assertIn(st, (200, 201, 202), task)
        self.wait_tasks_ended()
        seeder = self.seed_from_peer()
        self.origin.stop()
        self.origin = None
        st, h = head(self.url("model.safetensors"))
        self.assertEqual((st, h["X-Repo-Commit"], h["X-Linked-Size"]), (200, self.commit, str(len(BIG))))
        st, _, got = get(self.url("model.safetensors"))
        self.assertEqual((st, got), (200, BIG))
        self.assertGreaterEqual(seeder.uploaded(), len(BIG))
        st, _, got = get(self.url("sub/tok.txt"))
        self.assertEqual((st, got), (200, FILES["sub/tok.txt"]))
        st, _, got = get(self.hub + "/api/models/org/m/revision/" + self.commit)
        self.assertEqual(st, 200)
        self.assertEqual(sorted(s["rfilename"] for s in json.loads(got)["siblings"]), sorted(FILES))
        st, h = head(self.url("no/such/file"))
        self.assertEqual((st, h["X-Error-Code"]), (404, "EntryNotFound"))
        # A branch is never answered from the list: the Hub's error shape.
        st, _, got = get(self.url("model.safetensors", "main"))
        self.assertEqual(st, 502)
        self.assertIn("cannot be reached", json.loads(got)["error"])


class SwarmTest(EndpointCase):
    def test_bytes_come_from_the_peer_and_arrive_steadily(self):
        seeder = self.seed_from_peer(upload_rate=1024 * 1024)
        self.start_endpoint()
        host, port = self.hub[len("http://"):].split(":")
        conn = httpc.HTTPConnection(host, int(port), timeout=30)
        conn.request("GET", "/org/m/resolve/main/model.safetensors")
        r = conn.getresponse()
        self.assertEqual(r.status, 200)
        got, gaps, last = b"", [], time.monotonic()
        while True:
            chunk = r.read1(256 * 1024)  # read timeout 30 s: a stall fails the test
            if not chunk:
                break
            now = time.monotonic()
            gaps.append(now - last)
            last = now
            got += chunk
        conn.close()
        self.assertEqual(got, BIG)
        self.assertGreater(len(gaps), 4)  # it came as it arrived, not at the end
        self.assertLess(max(gaps), 5.0)
        self.assertEqual(resolve_gets(self.origin, "model.safetensors"), [])
        self.assertGreaterEqual(seeder.uploaded(), len(BIG))

    def test_a_snapshot_download_by_the_protocol_is_one_task(self):
        # huggingface_hub's snapshot_download: the revision (with its
        # siblings), then each file, config.json first.
        self.seed_from_peer()
        self.start_endpoint()
        st, _, body = get(self.hub + "/api/models/org/m/revision/main")
        self.assertEqual(st, 200)
        for path in sorted(s["rfilename"] for s in json.loads(body)["siblings"]):
            self.assertEqual(head(self.url(path, "main"))[0], 200)
            self.assertEqual(get(self.url(path, "main"))[2], FILES[path], path)
        self.wait_tasks_ended()
        tasks = api(self.sock, "GET", "/v1/tasks")[1]
        self.assertEqual(len(tasks), 1, tasks)
        self.assertEqual(tasks[0]["result"]["bytes_http"], 0, tasks)
        self.assertEqual(resolve_gets(self.origin, "model.safetensors"), [])

    def test_a_poisoned_torrent_never_completes_a_wrong_file(self):
        # Same names and sizes, other content, published under the real commit.
        poisoned = dict(FILES, **{"model.safetensors": bytes(len(BIG))})
        self.seed_from_peer(poisoned)
        self.start_endpoint()
        st, _, body = None, None, b""
        try:
            st, _, body = get(self.url("model.safetensors"))
        except (httpc.IncompleteRead, ConnectionError) as e:
            body = getattr(e, "partial", b"")
        # Either the right file, or a cut transfer the client knows failed.
        if len(body) == len(BIG):
            self.assertEqual(body, BIG)
        else:
            self.assertLess(len(body), len(BIG))
            # Resuming that transfer starts over (its bytes were wrong).
            st, _, whole = get(self.url("model.safetensors"), {"Range": "bytes=%d-" % len(body)})
            self.assertEqual((st, whole), (200, BIG))
        try:
            wait_for("the verified file in the daemon's cache",
                     lambda: run(["verify", "org/m", "--revision", self.commit,
                                  "--cache-dir", self.cache]).returncode == 0, timeout=60)
        except AssertionError:
            print(self.log())
            raise


class MirrorTest(EndpointCase):
    def test_serve_upstream_is_the_endpoint_without_a_daemon(self):
        mirror_cache = self.path("mirror")
        os.mkdir(mirror_cache)
        with Serve(mirror_cache, "--upstream", self.origin.url) as mirror:
            self.hub = mirror.url
            st, h, body = get(self.url("model.safetensors", "main"))
            self.assertEqual((st, body, h["X-Repo-Commit"]), (200, BIG, self.commit))
            # The task took the snapshot (no other weight format in it).
            self.assertExit(run(["verify", "org/m", "--revision", self.commit, "--cache-dir", mirror_cache]), 0)
            self.origin.stop()
            self.origin = None
            # Known now: served while the Hub is down.
            st, _, body = get(self.url("model.safetensors"))
            self.assertEqual((st, body), (200, BIG))


class JsClientTest(EndpointCase):
    def setUp(self):
        super().setUp()
        self.assertTrue(available(), "needs node and tests/integration/js/node_modules: run scripts/bootstrap.sh")

    def test_snapshot_download_through_the_endpoint_takes_the_bytes_from_the_peer(self):
        self.seed_from_peer()
        self.start_endpoint()
        js = self.path("js")
        code, out = hfjs({"op": "snapshot", "repo": "org/m", "revision": "main", "cacheDir": js, "hubUrl": self.hub})
        self.assertEqual(code, 0, out)
        for path, data in FILES.items():
            with open(os.path.join(js, "models--org--m", "snapshots", self.commit, path), "rb") as f:
                self.assertEqual(f.read(), data, path)
        # The daemon fetched the snapshot from the peer, not the origin.
        self.assertEqual(resolve_gets(self.origin, "model.safetensors"), [], self.log())
        # The cache the JS client made is the one `llmpt download` makes.
        ours = self.path("ours")
        self.assertExit(run(["download", "org/m", "--endpoint", self.origin.url, "--cache-dir", ours, "--no-p2p"]), 0)
        tree = lambda root: [p for p in self.files_under(os.path.join(root, "models--org--m"))
                             if not p.startswith((".llmpt", ".no_exist"))]
        self.assertEqual(tree(js), tree(ours))
        self.wait_tasks_ended()
        self.assertExit(run(["verify", "org/m", "--cache-dir", self.cache]), 0)
        # Not a torrent per file: the client listed the tree first, so the
        # first file's task took the whole snapshot (endpoint/policy.hpp), from the peer.
        tasks = api(self.sock, "GET", "/v1/tasks")[1]
        self.assertEqual(len(tasks), 1, tasks)
        self.assertEqual(sum(t["result"]["bytes_http"] for t in tasks), 0, tasks)
        self.assertGreaterEqual(sum(t["result"]["bytes_p2p"] for t in tasks), len(BIG), tasks)
        wait_for("the daemon seeding the snapshot",
                 lambda: any(s["revision"] == self.commit for s in api(self.sock, "GET", "/v1/seeds")[1]))

    def test_download_file_to_cache_dir_through_the_endpoint(self):
        self.start_endpoint()
        js = self.path("js")
        code, out = hfjs({"op": "file", "repo": "org/m", "path": "model.safetensors", "revision": "main",
                          "cacheDir": js, "hubUrl": self.hub})
        self.assertEqual(code, 0, out)
        with open(os.path.join(js, "models--org--m", "snapshots", self.commit, "model.safetensors"), "rb") as f:
            self.assertEqual(f.read(), BIG)


if __name__ == "__main__":
    unittest.main()
