"""The cold start: machines that start together when the tracker has no
torrent yet take one copy from the Hub between them (docs/design.md, "The
cold start"). The Hub is `llmpt serve` behind a rate-limited link (its
bytes counted there); every node is its own llmpt process on its own
127.0.0.x address."""

import base64
import json
import os
import subprocess
import urllib.request
import time
import unittest

from harness import LLMPT, Serve, SlowLink, TestCase, import_repo, run
from tracker_harness import Tracker

BIG = os.urandom(8 * 1024 * 1024 + 5)
FILES = {"config.json": b'{"a": 1}\n', "model-00001.safetensors": BIG[:5 << 20],
         "model-00002.safetensors": BIG[5 << 20:]}
TOTAL = sum(map(len, FILES.values()))
HUB_RATE = 4 << 20  # bytes/s: one copy crosses the "WAN" in about 2 s


def post(url, body):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


class ColdStartTest(TestCase):
    def setUp(self):
        super().setUp()
        self.commit = import_repo(self.path("hub"), "org/m", FILES)
        self.serve = Serve(self.path("hub"))
        self.addCleanup(self.serve.stop)
        self.hub = SlowLink(self.serve.url, HUB_RATE)
        self.addCleanup(self.hub.stop)
        self.tracker = Tracker(self.path("t.db"), "--cohort-lease", "3")
        self.addCleanup(self.tracker.stop)
        self.procs = []
        self.addCleanup(self.kill_all)

    def kill_all(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait(10)
            for f in (p.stdout, p.stderr):
                if f:
                    f.close()

    def node(self, i, seed_time=30):
        p = subprocess.Popen([LLMPT, "download", "org/m", "--endpoint", self.hub.url, "--cache-dir",
                              self.path("n%d" % i), "--json", "--tracker", self.tracker.url,
                              "--listen", "127.0.0.%d:0" % (40 + i), "--seed-time", str(seed_time)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=dict(os.environ, HF_HOME="/nonexistent-hf-home"))
        self.procs.append(p)
        return p

    def finish(self, p, i):
        out, err = p.communicate(timeout=180)
        self.assertEqual(p.returncode, 0, err)
        self.assertExit(run(["verify", "org/m", "--cache-dir", self.path("n%d" % i)]), 0)
        return json.loads(out.splitlines()[0]), err

    def published_info_hash(self):
        with urllib.request.urlopen(self.tracker.url + "/api/v1/torrents?repo_id=org/m&revision=" + self.commit) as r:
            return json.loads(r.read())["data"][0]["info_hash"]

    def test_three_cold_nodes_take_one_copy_from_the_hub(self):
        nodes = [self.node(i) for i in range(3)]
        results = [self.finish(p, i)[0] for i, p in enumerate(nodes)]
        # Each chunk crossed the link once; the swarm carried the rest.
        self.assertLessEqual(self.hub.sent, 1.2 * TOTAL, results)
        self.assertEqual(sum(r["bytes_share"] for r in results), TOTAL, results)
        for r in results:
            self.assertGreater(r["bytes_p2p"], 0, r)
            self.assertGreater(r["bytes_share"], 0, r)
            self.assertEqual(r["bytes_p2p"] + r["bytes_webseed"] + r["bytes_http"], TOTAL, r)
        # The torrent the cohort assembled is the snapshot's own: a machine
        # with every byte makes the same info hash.
        made = run(["create-torrent", "org/m", "--cache-dir", self.path("n0"), "-o", self.path("made.torrent")])
        self.assertExit(made, 0)
        self.assertIn(self.published_info_hash(), made.stderr)

    def test_a_member_killed_mid_fetch_loses_its_share_to_the_others(self):
        nodes = [self.node(i) for i in range(3)]
        # Once the cohort is under way, the node holding the most of the
        # repo dies: its leases lapse (3 s here) and the others take them.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and self.hub.sent < TOTAL // 4:
            time.sleep(0.05)
        sizes = []
        for i in range(3):
            staging = os.path.join(self.path("n%d" % i), "models--org--m", ".llmpt", "staging")
            blocks = 0
            for d, _, fs in os.walk(staging):
                for f in fs:
                    try:
                        blocks += os.stat(os.path.join(d, f)).st_blocks
                    except FileNotFoundError:
                        pass
            sizes.append(blocks)
        victim = sizes.index(max(sizes))
        nodes[victim].kill()
        nodes[victim].wait(10)
        for i, p in enumerate(nodes):
            if i != victim:
                r, _ = self.finish(p, i)
                self.assertEqual(r["bytes_p2p"] + r["bytes_webseed"] + r["bytes_http"], TOTAL, r)
        self.assertLess(self.hub.sent, 2 * TOTAL)

    def test_a_member_reporting_wrong_hashes_costs_only_its_share(self):
        # A liar joins first and reports one chunk with made-up hashes.
        files = [{"path": p, "size": len(d)} for p, d in FILES.items()]
        joined = post(self.tracker.url + "/api/v1/cohort/join",
                      {"repo_id": "org/m", "repo_type": "model", "revision": self.commit, "files": files,
                       "tracker": self.tracker.url})
        self.assertEqual(joined["state"], "fetching")
        lease = post(self.tracker.url + "/api/v1/cohort/lease",
                     {"cohort": joined["cohort"], "member": joined["member"], "want": True})
        chunk = lease["chunk"]
        post(self.tracker.url + "/api/v1/cohort/report",
             {"cohort": joined["cohort"], "member": joined["member"], "path": chunk["path"],
              "first_piece": chunk["first_piece"],
              "hashes": base64.b64encode(os.urandom(32 * chunk["pieces"])).decode()})
        nodes = [self.node(i) for i in range(2)]
        results = [self.finish(p, i) for i, p in enumerate(nodes)]
        for r, _ in results:
            self.assertEqual(r["bytes_p2p"] + r["bytes_webseed"] + r["bytes_http"], TOTAL, r)
        # The liar's chunk came from the Hub for each node; the rest once.
        self.assertLess(self.hub.sent, TOTAL + 3 * chunk["length"] + TOTAL * 0.2)

    def test_a_tracker_without_the_protocol_means_http_as_before(self):
        old = subprocess.Popen(["/usr/bin/python3", "-c", OLD_TRACKER], stdout=subprocess.PIPE, text=True)
        self.procs.append(old)
        url = old.stdout.readline().strip()
        p = subprocess.Popen([LLMPT, "download", "org/m", "--endpoint", self.hub.url, "--cache-dir",
                              self.path("old"), "--json", "--tracker", url],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        out, err = p.communicate(timeout=120)
        self.assertEqual(p.returncode, 0, err)
        r = json.loads(out)
        self.assertEqual(r["bytes_http"], TOTAL)
        self.assertEqual(r["bytes_share"], 0)
        self.assertNotIn("cohort", err)

    def test_a_lone_node_is_a_cohort_of_one(self):
        r, err = self.finish(self.node(0, seed_time=0), 0)
        self.assertEqual(r["bytes_share"], TOTAL, err)
        self.assertEqual(r["bytes_http"], TOTAL, err)
        self.assertLessEqual(self.hub.sent, TOTAL)
        # Its torrent is published for whoever comes next.
        self.assertTrue(self.published_info_hash())


# The original tracker's REST API: torrents and publish, no cohort routes.
OLD_TRACKER = r'''
import http.server, json, threading
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def answer(self, status, obj):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_GET(self):
        if self.path.startswith("/api/v1/torrents"):
            return self.answer(200, {"total": 0, "data": []})
        self.answer(404, {"detail": "Not Found"})
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.answer(404, {"detail": "Not Found"})
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
print("http://127.0.0.1:%d" % s.server_address[1], flush=True)
s.serve_forever()
'''

if __name__ == "__main__":
    unittest.main()
