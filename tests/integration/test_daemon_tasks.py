"""Downloads as daemon tasks: POST/GET/DELETE /v1/tasks, live event streams
(Server-Sent Events), `llmpt download` handing off to the daemon, and a task
that survives kill -9 of the daemon.

The transfers are made slow on purpose (a python3-libtorrent seeder with an
upload limit, no web seeds, a long P2P timeout) so that there is a running
task to attach to, detach from and kill."""

import json
import os
import signal
import subprocess
import time
import unittest

from harness import LLMPT, Serve, UnixHTTPConnection, import_repo, run
from p2p_harness import PySeeder
from test_daemon import DaemonCase, api, wait_for
from tracker_harness import Tracker, http, make_torrent, publish_body

BIG = os.urandom(8 * 1024 * 1024 + 5)
FILES = {"config.json": b'{"a": 1}\n', "model.safetensors": BIG, "sub/tok.txt": b"a\nb\n"}
TOTAL = sum(len(v) for v in FILES.values())


class EventStream:
    """GET /v1/tasks/{id}/events, read frame by frame."""

    def __init__(self, sock, task_id, timeout=60):
        self.conn = UnixHTTPConnection(sock, timeout=timeout)
        self.conn.request("GET", "/v1/tasks/%s/events" % task_id)
        self.resp = self.conn.getresponse()

    def next(self):
        """(event, data) of the next frame; None when the stream ended."""
        event, data = None, []
        while True:
            line = self.resp.fp.readline()
            if not line:
                return None
            line = line.decode().rstrip("\r\n")
            if line == "":
                if event or data:
                    return event, json.loads("\n".join(data))
                continue
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())

    def rest(self):
        frames = []
        while (f := self.next()) is not None:
            frames.append(f)
        return frames

    def close(self):
        self.conn.close()


class TaskTest(DaemonCase):
    def setUp(self):
        super().setUp()
        self.hub_cache = self.path("hub")
        self.commit = import_repo(self.hub_cache, "org/m", FILES)
        self.snapshots = os.path.join(self.hub_cache, "models--org--m", "snapshots")
        self.hub = Serve(self.hub_cache)
        self.tracker = Tracker(self.path("t.db"))
        self.torrent = make_torrent(os.path.join(self.snapshots, self.commit))
        self.assertEqual(http(self.tracker.url + "/api/v1/publish", "POST",
                              publish_body("org/m", self.commit, self.torrent))[0], 200)
        self.seeders = []

    def tearDown(self):
        for s in self.seeders:
            s.stop()
        super().tearDown()
        self.tracker.stop()
        self.hub.stop()

    def seeder(self, rate=0):
        s = PySeeder(self.torrent, self.snapshots, self.tracker.url, upload_rate=rate)
        self.seeders.append(s)
        return s

    def request(self, **extra):
        body = {"repo": "org/m", "endpoint": self.hub.url, "tracker": self.tracker.url, "no_webseed": True,
                "p2p_timeout": 120}
        body.update(extra)
        return body

    def post(self, body):
        return api(self.sock, "POST", "/v1/tasks", json.dumps(body).encode(), {"Content-Type": "application/json"})

    def task(self, task_id):
        return api(self.sock, "GET", "/v1/tasks/" + task_id)[1]

    def wait_state(self, task_id, states, timeout=90):
        return wait_for("task %s to be %s" % (task_id, states),
                        lambda: (t := self.task(task_id)) and t["state"] in states and t, timeout)

    def wait_bytes(self, task_id, at_least):
        return wait_for("task %s to have %d bytes" % (task_id, at_least),
                        lambda: (t := self.task(task_id)) and t["progress"] and
                        t["progress"]["bytes_done"] >= at_least and t)

    def cli(self, *extra):
        return [LLMPT, "download", "org/m", "--cache-dir", self.cache, "--endpoint", self.hub.url, "--tracker",
                self.tracker.url, "--no-webseed", "--p2p-timeout", "120"] + list(extra)

    def popen(self, *extra):
        env = dict(os.environ, XDG_RUNTIME_DIR=self.runtime, HF_HOME="/nonexistent-hf-home")
        env.pop("HF_TOKEN", None)
        return subprocess.Popen(self.cli(*extra), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)

    def test_task_api_identical_requests_share_a_task_and_streams_end_with_the_result(self):
        self.start(self.tracker.url)
        self.seeder(rate=2 * 1024 * 1024)
        status, first = self.post(self.request())
        self.assertEqual((status, first["existing"]), (201, False), first)
        status, again = self.post(self.request())
        self.assertEqual((status, again["id"], again["existing"]), (200, first["id"], True))
        task = self.wait_bytes(first["id"], 2 * 1024 * 1024)
        self.assertEqual(task["state"], "running")
        self.assertNotIn("token", task["request"])
        # A late joiner: the current state first, then the events, then the end.
        s = EventStream(self.sock, first["id"])
        self.assertEqual(s.resp.getheader("Content-Type"), "text/event-stream")
        self.assertEqual(s.resp.getheader("Connection"), "close")  # the stream ends with the connection
        event, state = s.next()
        self.assertEqual(event, "state")
        self.assertEqual(state["state"], "running")
        self.assertGreaterEqual(state["progress"]["bytes_done"], 2 * 1024 * 1024)
        frames = s.rest()
        s.close()
        names = [f[0] for f in frames]
        self.assertEqual(names[-1], "done", names)
        self.assertIn("file", names)
        done = frames[-1][1]
        self.assertEqual(done["result"]["bytes_total"], TOTAL)
        self.assertEqual(done["result"]["bytes_http"], 0)
        self.assertEqual(len(done["files_ready"]), len(FILES))
        # Finished: the same request makes a new task; the list has both.
        self.assertEqual(api(self.sock, "GET", "/v1/tasks")[1][0]["state"], "done")
        status, third = self.post(self.request())
        self.assertEqual((status, third["existing"]), (201, False))
        self.assertNotEqual(third["id"], first["id"])
        self.wait_state(third["id"], ("done",))
        self.assertEqual(self.task(third["id"])["result"]["bytes_cached"], TOTAL)
        # A finished task's stream: its state, then its final event.
        self.assertEqual([f[0] for f in EventStream(self.sock, third["id"]).rest()], ["state", "done"])
        self.assertExit(run(["verify", "org/m", "--cache-dir", self.cache]), 0)
        wait_for("the daemon to seed what its task downloaded",
                 lambda: "seeding model org/m@" + self.commit in self.log())
        # What the task verified is not hashed again by the seeder.
        self.assertRegex(self.log(), r"seeding model org/m@%s info_hash \w+ \(3 files, 0 bytes hashed now\)" % self.commit)
        # A snapshot a task is writing is not taken for one without a manifest.
        self.assertNotIn("cannot list", self.log())

    def test_two_clients_one_task_and_ctrl_c_only_detaches(self):
        self.start(self.tracker.url)
        self.seeder(rate=1024 * 1024)
        a = self.popen("--json")
        b = self.popen("--json")
        tasks = wait_for("one running task", lambda: (l := api(self.sock, "GET", "/v1/tasks")[1]) and
                         l[0]["progress"] and l[0]["progress"]["bytes_done"] > 1024 * 1024 and l)
        self.assertEqual(len(tasks), 1)
        task_id = tasks[0]["id"]
        b.send_signal(signal.SIGINT)
        out_b, err_b = b.communicate(timeout=30)
        self.assertEqual(b.returncode, 130, err_b)
        self.assertIn("detached; task %s goes on in the daemon" % task_id, err_b)
        self.assertEqual(self.task(task_id)["state"], "running")
        status = run(["daemon", "status", "--cache-dir", self.cache], env=self.env)
        self.assertIn("task %s  running  org/m@main" % task_id, status.stdout)
        # The same command again follows the running task to its end; with
        # --events it still gets the plan and every file once, those made
        # usable before it joined included.
        again = run(self.cli("--events")[1:], env=self.env, timeout=120)
        self.assertExit(again, 0)
        self.assertIn("following the running task " + task_id, again.stderr)
        events = [json.loads(line) for line in again.stdout.splitlines()]
        self.assertEqual([e["event"] for e in events].count("plan"), 1)
        self.assertEqual(sorted(e["path"] for e in events if e["event"] == "file"), sorted(FILES))
        self.assertEqual(events[-1]["event"], "done")
        out_a, err_a = a.communicate(timeout=120)
        self.assertEqual(a.returncode, 0, err_a)
        self.assertIn(task_id, err_a)
        self.assertEqual(json.loads(out_a)["path"], events[-1]["path"])
        self.assertEqual(json.loads(out_a)["bytes_http"], 0)
        self.assertEqual(len(api(self.sock, "GET", "/v1/tasks")[1]), 1)
        # --in-process downloads here (all cached by now) and makes no task.
        p = run(self.cli("--in-process", "--json")[1:], env=self.env)
        self.assertExit(p, 0)
        self.assertEqual(json.loads(p.stdout)["bytes_cached"], TOTAL)
        self.assertEqual(len(api(self.sock, "GET", "/v1/tasks")[1]), 1)

    def test_cancel_a_running_task(self):
        self.start(self.tracker.url)
        self.seeder(rate=512 * 1024)
        _, posted = self.post(self.request())
        task_id = posted["id"]
        self.wait_bytes(task_id, 512 * 1024)
        s = EventStream(self.sock, task_id)
        status, body = api(self.sock, "DELETE", "/v1/tasks/" + task_id)
        self.assertEqual(status, 200)
        frames = s.rest()
        s.close()
        self.assertEqual(frames[-1][0], "cancelled")
        self.assertEqual(self.task(task_id)["state"], "cancelled")
        # DELETE of a finished task forgets it.
        self.assertEqual(api(self.sock, "DELETE", "/v1/tasks/" + task_id)[0], 200)
        self.assertEqual(api(self.sock, "GET", "/v1/tasks/" + task_id)[0], 404)

    def test_kill_9_mid_download_then_restart_resumes_the_task(self):
        self.stop_mid_download_then_resume(kill=True)

    def test_stop_mid_download_then_start_resumes_the_task(self):
        self.stop_mid_download_then_resume(kill=False)

    def stop_mid_download_then_resume(self, kill):
        self.start(self.tracker.url)
        slow = self.seeder(rate=1024 * 1024)
        _, posted = self.post(self.request())
        task_id = posted["id"]
        self.assertGreaterEqual(slow.wait_uploaded(3 * 1024 * 1024), 3 * 1024 * 1024)
        if kill:
            pid = api(self.sock, "GET", "/health")[1]["pid"]
            os.kill(pid, signal.SIGKILL)
            wait_for("the daemon to die", lambda: run(["daemon", "status", "--cache-dir", self.cache],
                                                      env=self.env).returncode != 0)
        else:  # a stop interrupts the task without cancelling it
            t0 = time.monotonic()
            self.assertExit(run(["daemon", "stop", "--cache-dir", self.cache], env=self.env), 0)
            self.assertLess(time.monotonic() - t0, 20)
            self.assertIn("daemon stopped", self.log())
        slow.stop()
        self.seeders.remove(slow)
        self.seeder()  # a fast one now
        self.start(self.tracker.url)
        task = self.wait_state(task_id, ("done", "failed"))
        self.assertEqual(task["state"], "done", task)
        result = task["result"]
        # What reached staging before the kill is kept (counted as cached);
        # the rest came from the peer; nothing from HTTP.
        self.assertGreaterEqual(result["bytes_cached"], 1024 * 1024)
        self.assertEqual(result["bytes_http"], 0)
        self.assertEqual(result["bytes_p2p"] + result["bytes_cached"], TOTAL)
        self.assertIn("task %s resumed" % task_id, self.log())
        self.assertExit(run(["verify", "org/m", "--cache-dir", self.cache]), 0)

    def test_bad_task_requests(self):
        self.start(self.tracker.url)
        for body, field in ((b"{nope", "JSON"), (b"[1]", "object"), (b'{"repo": 5}', "repo"),
                            (b'{"repo": "org/m", "files": "x"}', "files"), (b'{"revision": "main"}', "repo"),
                            (b'{"repo": "org/m", "colour": "red"}', "colour"),
                            (b'{"repo": "org/m", "p2p_timeout": -1}', "p2p_timeout"),
                            (b'{"repo": "../x"}', "repo"),
                            (json.dumps({"repo": "org/m", "cache_dir": self.path("other")}).encode(), "cache_dir")):
            status, answer = api(self.sock, "POST", "/v1/tasks", body)
            self.assertEqual(status, 400, body)
            self.assertIn(field, answer["error"])
        self.assertEqual(api(self.sock, "POST", "/v1/tasks", b"x" * (1 << 20))[0], 413)
        self.assertEqual(api(self.sock, "PUT", "/v1/tasks")[0], 405)
        for method, path in (("GET", "/v1/tasks/nope"), ("DELETE", "/v1/tasks/nope"),
                             ("GET", "/v1/tasks/nope/events"), ("GET", "/v1/tasks/")):
            status, answer = api(self.sock, method, path)
            self.assertEqual(status, 404, path)
            self.assertIn("no such task", answer["error"])
        self.assertEqual(api(self.sock, "GET", "/v1/tasks")[1], [])


if __name__ == "__main__":
    unittest.main()
