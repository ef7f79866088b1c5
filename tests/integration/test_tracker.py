"""llmpt-tracker end to end: publish -> lookup -> fetch -> announce from
several peers -> scrape -> restart, and every bad input gets its status."""

import json
import os
import socket
import subprocess
import threading
import time
import unittest
import urllib.parse

import libtorrent as lt

from harness import Serve, TestCase, raw_request
from tracker_harness import (EXAMPLES, Tracker, announce, compact_peers, facts, http, make_snapshot,
                             make_torrent, publish_body)

FILES = {"config.json": b'{"a": 1}\n', "model.safetensors": os.urandom(700 * 1024), "tok/vocab.txt": b"a\nb\n"}


class TrackerTest(TestCase):
    def setUp(self):
        super().setUp()
        self.commit, self.snap = make_snapshot(self.path("cache"), "org/model", FILES)
        self.data = make_torrent(self.snap)
        self.facts = facts(self.data)
        self.key = bytes.fromhex(self.facts["announce_key"])

    def publish(self, tracker, body=None, token=None):
        headers = {"Authorization": "Bearer " + token} if token else {}
        return http(tracker.url + "/api/v1/publish", "POST",
                    body or publish_body("org/model", self.commit, self.data), headers)

    def test_publish_lookup_fetch_announce_scrape_restart(self):
        with Tracker(self.path("t.db")) as t:
            self.assertEqual(http(t.url + "/health")[2], b"OK")
            st, _, body = self.publish(t)
            self.assertEqual(st, 200, body)
            out = json.loads(body)
            self.assertEqual(out["status"], "created")
            self.assertEqual(out["info_hash"], self.facts["info_hash"])
            self.assertEqual(out["announce_key"], self.facts["info_hash"][:40])
            st, _, body = self.publish(t)  # idempotent
            self.assertEqual((st, json.loads(body)["status"]), (200, "exists"))

            q = "?repo_id=org/model&revision=%s&repo_type=model" % self.commit
            st, _, body = http(t.url + "/api/v1/torrents" + q)
            res = json.loads(body)
            self.assertEqual(res["total"], 1)
            rec = res["data"][0]
            self.assertEqual(rec["name"], self.commit)
            self.assertEqual(rec["file_count"], 3)
            self.assertEqual(sorted(f["path"] for f in rec["files"]),
                             ["config.json", "model.safetensors", "tok/vocab.txt"])
            self.assertEqual(rec["stats"], {"seeders": 0, "leechers": 0, "completed": 0})
            st, h, body = http(t.url + "/api/v1/torrents/torrent" + q)
            self.assertEqual((st, body), (200, self.data))
            self.assertEqual(h["Content-Type"], "application/x-bittorrent")
            self.assertEqual(json.loads(http(t.url + "/api/v1/torrents?repo_id=org/none")[2])["total"], 0)
            self.assertEqual(http(t.url + "/api/v1/torrents/torrent?repo_id=org/none&revision=x")[0], 404)

            # five peers, one seeder
            for port in range(7001, 7006):
                st, r = announce(t.url, self.key, port, event="started", left=0 if port == 7001 else 500)
                self.assertEqual(st, 200)
            st, r = announce(t.url, self.key, 7003, numwant=2)
            peers = compact_peers(r[b"peers"])
            self.assertEqual(len(peers), 2)
            self.assertNotIn(("127.0.0.1", 7003), peers)
            self.assertEqual((r[b"complete"], r[b"incomplete"]), (1, 4))
            self.assertIn(b"interval", r)
            self.assertIn(b"min interval", r)
            st, r = announce(t.url, self.key, 7004, numwant=50)
            all_peers = compact_peers(r[b"peers"])
            self.assertEqual(sorted(p for _, p in all_peers), [7001, 7002, 7003, 7005])
            st, r = announce(t.url, self.key, 7002, compact=0)
            self.assertEqual(sorted(p[b"port"] for p in r[b"peers"]), [7001, 7003, 7004, 7005])
            # a seeder is not sent other seeders
            st, r = announce(t.url, self.key, 7001, left=0)
            self.assertNotIn(7001, [p for _, p in compact_peers(r[b"peers"])])

            announce(t.url, self.key, 7002, event="completed", left=0)
            announce(t.url, self.key, 7005, event="stopped")
            st, _, body = http(t.url + "/scrape?info_hash=" + "".join("%%%02x" % b for b in self.key))
            import libtorrent as lt
            files = lt.bdecode(body)[b"files"]
            self.assertEqual(files[self.key], {b"complete": 2, b"downloaded": 1, b"incomplete": 2})
            rec = json.loads(http(t.url + "/api/v1/torrents" + q)[2])["data"][0]
            self.assertEqual(rec["stats"], {"seeders": 2, "leechers": 2, "completed": 1})

            t.restart()
            rec = json.loads(http(t.url + "/api/v1/torrents" + q)[2])["data"][0]
            self.assertEqual(rec["info_hash"], self.facts["info_hash"])
            self.assertEqual(rec["stats"], {"seeders": 0, "leechers": 0, "completed": 1})
            st, r = announce(t.url, self.key, 7009)  # peers come back with their next announce
            self.assertEqual(r[b"incomplete"], 1)

    def test_hybrid_torrents_answer_to_the_v1_hash_too(self):
        """A hybrid torrent is two swarms: a v1-only client (Transmission 3,
        aria2 1.36) is handed only to v1 announcers, whose handshakes it can
        answer; a hybrid client announces both hashes and is in both. Its
        download counts once although libtorrent announces `completed` for
        each hash, and the listing names the v1 hash."""
        data = make_torrent(self.snap, hybrid=True)
        f = facts(data)
        self.assertTrue(f["v1"])
        v1, v2 = bytes.fromhex(f["v1"]), bytes.fromhex(f["announce_key"])
        with Tracker(self.path("t.db")) as t:
            st, _, body = self.publish(t, publish_body("org/model", self.commit, data))
            self.assertEqual(st, 200, body)
            announce(t.url, v1, 7100, event="started")  # v1 only
            for key in (v1, v2):  # a hybrid client: the same peer under both hashes
                announce(t.url, key, 7102, peer_id=b"-LT2080-hybridhybrid", event="started")
            st, r = announce(t.url, v2, 7101, event="started")
            self.assertEqual(compact_peers(r[b"peers"]), [("127.0.0.1", 7102)])
            st, r = announce(t.url, v1, 7103, event="started")
            self.assertEqual(sorted(compact_peers(r[b"peers"])), [("127.0.0.1", 7100), ("127.0.0.1", 7101 + 1)])
            for key in (v1, v2):
                announce(t.url, key, 7102, peer_id=b"-LT2080-hybridhybrid", event="completed", left=0)
            q = "?repo_id=org%2Fmodel&revision=" + self.commit
            rec = json.loads(http(t.url + "/api/v1/torrents" + q)[2])["data"][0]
            self.assertEqual(rec["info_hash_v1"], f["v1"])
            # 7100, 7101, 7103 leech; the hybrid client seeds, counted once.
            self.assertEqual(rec["stats"], {"seeders": 1, "leechers": 3, "completed": 1})

    def test_a_magnet_user_announcing_left_0_gets_the_seeders(self):
        """aria2 and other magnet users announce left=0 before they have the
        metadata; a seeder is told about leechers first, then seeders. A
        missing `left` is not taken for 0."""
        with Tracker(self.path("t.db")) as t:
            self.assertEqual(self.publish(t)[0], 200)
            announce(t.url, self.key, 7200, event="started", left=0)  # the seeder
            st, r = announce(t.url, self.key, 7201, event="started", left=0)  # the magnet user
            self.assertEqual(compact_peers(r[b"peers"]), [("127.0.0.1", 7200)])
            q = {"info_hash": self.key, "peer_id": b"-XX0001-%012d" % 7202, "port": 7202, "compact": 1}
            body = http(t.url + "/announce?" + urllib.parse.urlencode(q))[2]
            self.assertEqual(lt.bdecode(body)[b"complete"], 2)
            self.assertEqual(lt.bdecode(body)[b"incomplete"], 1)

    def test_listens_on_ipv6_and_says_so_as_a_url(self):
        with Tracker(self.path("t.db"), host="::1") as t:
            self.assertRegex(t.url, r"^http://\[::1\]:\d+$")
            self.assertEqual(http(t.url + "/health")[2], b"OK")

    def test_publish_token_and_bad_publishes(self):
        with Tracker(self.path("t.db"), "--publish-token", "s3cret") as t:
            self.assertEqual(self.publish(t)[0], 401)
            self.assertEqual(self.publish(t, token="nope")[0], 401)
            ok = lambda **o: self.publish(t, publish_body("org/model", self.commit, self.data, **o), "s3cret")
            for override, field in (({"info_hash": "0" * 64}, "info_hash"), ({"total_size": 1}, "total_size"),
                                    ({"file_count": 9}, "file_count"), ({"piece_length": 1 << 20}, "piece_length"),
                                    ({"files": [{"path": "x", "size": 1}]}, "files"),
                                    ({"announce_key": "1" * 40}, "announce_key"),
                                    ({"torrent_data": "!!notbase64"}, "torrent_data"),
                                    ({"torrent_data": "aGVsbG8="}, "torrent_data"),
                                    ({"revision": "main"}, "name"), ({"repo_id": "../x"}, "repo_id"),
                                    ({"repo_type": "car"}, "repo_type")):
                st, _, body = ok(**override)
                self.assertEqual(st, 400, (override, body))
                self.assertIn(field, json.loads(body)["error"], override)
            st, _, body = self.publish(t, b"{not json", "s3cret")
            self.assertEqual(st, 400)
            # wrong piece length for the size
            wrong = make_torrent(self.snap, piece_length=1 << 20)
            st, _, body = self.publish(t, publish_body("org/model", self.commit, wrong), "s3cret")
            self.assertEqual(st, 400)
            self.assertIn("piece_length", json.loads(body)["error"])
            # v1-only torrents are refused
            v1 = make_torrent(self.snap, v1_only=True)
            body = publish_body("org/model", self.commit, v1, info_hash="0" * 64)
            st, _, out = self.publish(t, body, "s3cret")
            self.assertEqual(st, 400)
            self.assertIn("v2", json.loads(out)["error"])
            # a different torrent for a published revision: 409
            self.assertEqual(ok()[0], 200)
            hybrid = make_torrent(self.snap, hybrid=True)
            st, _, out = self.publish(t, publish_body("org/model", self.commit, hybrid), "s3cret")
            self.assertEqual(st, 409, out)
            self.assertIn("publish", t.logs())

    def test_publish_token_file_and_audit_log(self):
        with open(self.path("tokens"), "w") as f:
            f.write("# tokens\nalpha\nbeta\n")
        with Tracker(self.path("t.db"), "--publish-token-file", self.path("tokens")) as t:
            self.assertEqual(self.publish(t, token="beta")[0], 200)
        import sqlite3
        rows = sqlite3.connect(self.path("t.db")).execute(
            "SELECT remote, token_id, status FROM publish_log").fetchall()
        self.assertEqual(rows[0][0], "127.0.0.1")
        self.assertEqual(rows[0][2], 200)
        self.assertEqual(len(rows[0][1]), 12)

    def test_limits_and_hostile_requests(self):
        with Tracker(self.path("t.db"), "--publish-rate", "0.01", "--announce-rate", "1", "--announce-burst", "3") as t:
            big = b"{" + b" " * (25 << 20) + b"}"
            answer = raw_request(t.port, b"POST /api/v1/publish HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
                                 % len(big) + big)
            self.assertIn(b" 413 ", answer.split(b"\r\n")[0])
            answer = raw_request(t.port, b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n")
            self.assertIn(b" 431 ", answer.split(b"\r\n")[0])
            codes = [self.publish(t)[0] for _ in range(3)]  # the burst of 1 is spent by the first
            self.assertEqual(codes[0], 200)
            st, h, _ = self.publish(t)
            self.assertEqual(st, 429)
            self.assertGreaterEqual(int(h["Retry-After"]), 1)
            statuses = [announce(t.url, self.key, 7200 + i)[0] for i in range(6)]
            self.assertIn(429, statuses)

    def test_slow_client_does_not_block_others(self):
        with Tracker(self.path("t.db")) as t:
            slow = socket.create_connection(("127.0.0.1", t.port))
            slow.sendall(b"GET /health HTTP/1.1\r\nHo")  # and then nothing
            t0 = time.monotonic()
            self.assertEqual(http(t.url + "/health")[2], b"OK")
            self.assertLess(time.monotonic() - t0, 2)
            slow.settimeout(20)
            self.assertEqual(slow.recv(100), b"")  # dropped after the idle timeout
            slow.close()

    def test_announce_refusals_and_ip_parameter(self):
        with Tracker(self.path("t.db")) as t:
            self.assertEqual(self.publish(t)[0], 200)
            st, r = announce(t.url, b"\x01" * 20, 7300)
            self.assertEqual(r[b"failure reason"], b"unregistered torrent")
            st, _, body = http(t.url + "/announce?info_hash=abc&port=1")
            self.assertIn(b"failure reason", body)
            st, _, body = http(t.url + "/scrape")
            self.assertIn(b"failure reason", body)
            announce(t.url, self.key, 7301, ip="198.51.100.7")
            st, r = announce(t.url, self.key, 7302)
            self.assertEqual(compact_peers(r[b"peers"]), [("127.0.0.1", 7301)])  # ip= ignored
            q = "/announce?info_hash=%s&peer_id=-LT0001-000000007303&port=7303&left=1" % "".join(
                "%%%02x" % b for b in self.key)
            http(t.url + q, headers={"X-Forwarded-For": "198.51.100.8"})
            st, r = announce(t.url, self.key, 7304)
            self.assertNotIn("198.51.100.8", [ip for ip, _ in compact_peers(r[b"peers"])])  # ignored too
        with Tracker(self.path("t.db"), "--trust-proxy") as t:
            announce(t.url, self.key, 7301, ip="198.51.100.7")
            st, r = announce(t.url, self.key, 7302)
            self.assertEqual(compact_peers(r[b"peers"]), [("198.51.100.7", 7301)])

    def test_hub_endpoint_check(self):
        with Serve(self.path("cache")) as hub:
            with Tracker(self.path("t.db"), "--hub-endpoint", hub.url) as t:
                self.assertEqual(self.publish(t)[0], 200)
                # a torrent of other files claiming a real revision
                other_commit, other_snap = make_snapshot(self.path("other"), "org/model", {"x.bin": b"\0" * 10, "y.txt": b"y\n"})
                fake = self.path("fake", self.commit)
                os.makedirs(os.path.dirname(fake))
                os.symlink(other_snap, fake)
                data = make_torrent(fake)
                self.assertEqual(facts(data)["name"], self.commit)
                st, _, body = self.publish(t, publish_body("org/other", self.commit, data))
                self.assertEqual(st, 422, body)
        with Tracker(self.path("t2.db"), "--hub-endpoint", self.dead_url()) as t:
            st, h, body = self.publish(t)
            self.assertEqual(st, 503, body)
            self.assertIn("Retry-After", h)

    def test_library_client(self):
        tool = os.path.join(EXAMPLES, "tracker_client")
        with open(self.path("t.torrent"), "wb") as f:
            f.write(self.data)
        with Tracker(self.path("t.db"), "--publish-token", "tok") as t:
            run = lambda *a: subprocess.run([tool, t.url] + list(a), capture_output=True, timeout=30)
            p = run("lookup", "org/model", self.commit)
            self.assertEqual(p.stdout.strip(), b"none")
            p = run("publish", "org/model", self.commit, self.path("t.torrent"), "bad")
            self.assertEqual(p.returncode, 4, p.stderr)
            p = run("publish", "org/model", self.commit, self.path("t.torrent"), "tok")
            self.assertEqual(p.stdout.split()[0], b"created", p.stderr)
            p = run("lookup", "org/model", self.commit)
            self.assertTrue(p.stdout.startswith(self.facts["info_hash"].encode()), p.stdout)
            p = run("fetch", "org/model", self.commit)
            self.assertEqual(p.stdout, self.data)
        # unreachable: a clear error, quickly; a silent server: bounded by the 5 s timeout
        p = subprocess.run([tool, self.dead_url(), "lookup", "org/model", self.commit],
                           capture_output=True, timeout=30)
        self.assertEqual(p.returncode, 5)
        self.assertIn(b"tracker unreachable", p.stderr)
        silent = socket.socket()
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        t0 = time.monotonic()
        p = subprocess.run([tool, "http://127.0.0.1:%d" % silent.getsockname()[1], "lookup", "org/m", "x"],
                           capture_output=True, timeout=30)
        self.assertEqual(p.returncode, 5)
        self.assertLess(time.monotonic() - t0, 8)
        silent.close()

    def test_library_client_keeps_a_path_prefix(self):
        import http.server
        seen = []

        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                seen.append(self.path)
                body = b'{"total":0,"data":[]}'
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        srv = http.server.HTTPServer(("127.0.0.1", 0), H)
        th = threading.Thread(target=srv.handle_request)
        th.start()
        p = subprocess.run([os.path.join(EXAMPLES, "tracker_client"),
                            "http://127.0.0.1:%d/tracker/" % srv.server_address[1], "lookup", "org/model", "abc"],
                           capture_output=True, timeout=30)
        th.join(10)
        srv.server_close()
        self.assertEqual(p.stdout.strip(), b"none", p.stderr)
        self.assertTrue(seen[0].startswith("/tracker/api/v1/torrents?repo_id=org%2Fmodel&revision=abc"), seen)


if __name__ == "__main__":
    unittest.main()
