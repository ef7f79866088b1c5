"""Shared helpers for the integration tests: fixture repos, a real `llmpt serve`,
fake (hostile) Hub servers, and bounded subprocess runs. Every wait here is
bounded; servers listen on port 0 so tests can run side by side."""

import contextlib
import hashlib
import http.client
import http.server
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import weakref
import unittest

LLMPT = os.environ.get("LLMPT_BIN") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "bin", "llmpt")
EXAMPLES = os.path.join(os.path.dirname(LLMPT))
TIMEOUT = 120  # seconds, for any single command


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_tree(root, files):
    """files: {relative path: bytes}"""
    for path, data in files.items():
        full = os.path.join(root, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "wb") as f:
            f.write(data)


def run(args, env=None, timeout=TIMEOUT, check=False, input=None, umask=-1):
    full_env = dict(os.environ)
    full_env.pop("HF_TOKEN", None)
    full_env.pop("HF_HUB_OFFLINE", None)
    full_env["HF_HOME"] = full_env.get("LLMPT_TEST_HF_HOME", "/nonexistent-hf-home")
    if env:
        full_env.update(env)
    proc = subprocess.Popen([LLMPT] + list(args), stdin=subprocess.PIPE if input is not None else None,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=full_env,
                            umask=umask)
    try:
        out, err = proc.communicate(input, timeout=timeout)
    except subprocess.TimeoutExpired:
        # A hang is a bug to find: say where every thread was before killing it.
        stacks = thread_stacks(proc.pid)
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError("llmpt %s did not end in %d s\n--- stderr:\n%s\n--- threads:\n%s"
                             % (" ".join(args), timeout, err[-4000:], stacks))
    p = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    if check and p.returncode != 0:
        raise AssertionError("llmpt %s failed (%d): %s" % (" ".join(args), p.returncode, p.stderr))
    return p


def thread_stacks(pid):
    """Every thread's backtrace of a running process (gdb), or why not."""
    if not shutil.which("gdb"):
        return "(no gdb to show them)"
    try:
        r = subprocess.run(["gdb", "-p", str(pid), "-batch", "-nx", "-ex", "thread apply all bt 30"],
                           capture_output=True, text=True, timeout=60)
        return r.stdout[-30000:]
    except subprocess.TimeoutExpired:
        return "(gdb did not answer in 60 s)"


def import_repo(cache_dir, repo, files, revision="main", repo_type="model"):
    src = tempfile.mkdtemp(prefix="llmpt-src-")
    try:
        write_tree(src, files)
        p = run(["cache", "import", src, "--repo", repo, "--cache-dir", cache_dir,
                 "--revision", revision, "--repo-type", repo_type], check=True)
        return p.stdout.strip()
    finally:
        shutil.rmtree(src)


def stop_process(proc, sig=signal.SIGTERM, timeout=10):
    """Asks a process to stop (bounded), kills it if it does not; returns its exit code."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    if proc.stdout:
        proc.stdout.close()
    return proc.returncode


def read_line(stream, timeout):
    """The next line of a child's pipe within `timeout` seconds, or an
    AssertionError. Reads the pipe's file descriptor itself (a half-written
    line never blocks, a second line that came with the first is kept for the
    next call), so a stream read with read_line is read with it only."""
    deadline = time.monotonic() + timeout
    fd = stream.fileno()
    pending = _pending_lines.setdefault(stream, bytearray())
    while b"\n" not in pending:
        left = deadline - time.monotonic()
        ready, _, _ = select.select([fd], [], [], max(left, 0))
        if not ready:
            raise AssertionError("no whole line within %ss (got %r)" % (timeout, bytes(pending)))
        chunk = os.read(fd, 65536)
        if not chunk:  # the child closed its end: what is left is the last line
            line = bytes(pending)
            pending.clear()
            return line.decode()
        pending += chunk
    line, _, rest = bytes(pending).partition(b"\n")
    pending[:] = rest
    return line.decode() + "\n"


_pending_lines = weakref.WeakKeyDictionary()  # stream -> bytes read past its last line


class Serve:
    """A real `llmpt serve` on 127.0.0.1 with an OS-chosen port."""

    def __init__(self, cache_dir, *extra):
        self.log_path = tempfile.mktemp(prefix="llmpt-serve-log-")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [LLMPT, "serve", "--cache-dir", cache_dir, "--listen", "127.0.0.1:0"] + list(extra),
            stdout=subprocess.PIPE, stderr=self.log, text=True)
        line = read_line(self.proc.stdout, 20)
        if "listening on" not in line:
            raise AssertionError("serve did not start: %r" % line)
        self.port = int(line.split("http://127.0.0.1:")[1].split(" ")[0])
        self.url = "http://127.0.0.1:%d" % self.port

    def requests(self):
        self.log.flush()
        with open(self.log_path) as f:
            return f.read().splitlines()

    def stop(self):
        """Idempotent: a test may stop the Hub, tearDown stops it again."""
        stop_process(self.proc)
        self.log.close()
        if os.path.exists(self.log_path):
            os.unlink(self.log_path)

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.stop()


def free_port():
    """A port that was free a moment ago. Another test may take it before the
    caller binds it: only for programs that retry on other ports when that
    happens (qbt_harness); tests use TestCase.reserve_port()."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def reserve_port():
    """(port, socket): a loopback port that nobody else is given while the
    socket stays open. The socket is bound with SO_REUSEADDR and never
    listens, so connecting is refused until one of our servers binds the same
    port (they set SO_REUSEADDR too, which Linux allows beside a socket that
    does not listen) and listens."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1], s


def raw_request(port, data: bytes, timeout=10):
    """Sends raw bytes, returns the raw answer (until close or timeout)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may answer (413, 431) before reading everything
        chunks = []
        with contextlib.suppress(socket.timeout, ConnectionResetError):
            while True:
                c = s.recv(65536)
                if not c:
                    break
                chunks.append(c)
                if b"\r\n\r\n" in b"".join(chunks) and b"Connection: close" not in data:
                    # one answer is enough for keep-alive requests
                    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
                    length = 0
                    for line in head.split(b"\r\n"):
                        if line.lower().startswith(b"content-length:"):
                            length = int(line.split(b":")[1])
                    if len(body) >= length:
                        break
        return b"".join(chunks)


class FakeHub:
    """A Hub stand-in that misbehaves on purpose (a real HTTP server, Python's
    http.server). `files` is {path: bytes}; `mode` says how resolve lies:
    'ok', 'bad-content', 'bad-size', 'ignore-range', 'truncate-once', 'slow',
    'flaky' (every first request of a URL gets 503 + Retry-After: 1),
    'rate-limited' (every first request of a URL gets 429 and the Hub's
    RateLimit headers with a 2 s reset), 'rate-limited-long' (every request
    gets 429 with a reset an hour away),
    'ignore-range-truncate' (ignores Range and cuts every body in half),
    'trickle' (sends file bodies at one byte a second),
    'endless-tree' (the file list has page after page of new files),
    'redirect-other-host' (resolve answers 302 to http://localhost:port/cdn/...)."""

    COMMIT = "c" * 40

    def __init__(self, files, mode="ok", rate=None):
        self.files = files
        self.mode = mode
        self.rate = rate  # bytes/s for 'slow'
        self.hits = []
        self.times = []  # time.monotonic() of each GET, beside hits
        self.truncated = set()
        self.seen = set()
        self.pages = 0  # tree pages served ('endless-tree')
        self.cdn_auth = []  # Authorization headers the CDN stand-in saw
        hub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def send_json(self, obj, status=200):
                body = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def refuse(self, status, headers):
                body = b'{"error": "busy"}'
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                hub.hits.append((self.command, self.path, self.headers.get("Range")))
                hub.times.append(time.monotonic())
                if hub.mode == "flaky" and self.path not in hub.seen:
                    hub.seen.add(self.path)
                    return self.refuse(503, {"Retry-After": "1"})
                if (hub.mode == "rate-limited" and self.path not in hub.seen) or hub.mode == "rate-limited-long":
                    hub.seen.add(self.path)
                    reset = 2 if hub.mode == "rate-limited" else 3600
                    return self.refuse(429, {"RateLimit": '"api";r=0;t=%d' % reset,
                                             "RateLimit-Policy": '"fixed window";"api";q=500;w=300'})
                if self.path.startswith("/cdn/"):
                    hub.cdn_auth.append(self.headers.get("Authorization"))
                    return self.resolve(self.path[len("/cdn/"):])
                if self.path.startswith("/api/models/org/fake/revision/"):
                    return self.send_json({"id": "org/fake", "sha": hub.COMMIT, "siblings": []})
                if self.path.startswith("/api/models/org/fake/tree/") and hub.mode == "endless-tree":
                    # Pages of 5,000 new files, each linking to the next, forever.
                    page = int(self.path.rsplit("page=", 1)[1]) if "page=" in self.path else 0
                    hub.pages += 1
                    body = json.dumps([{"type": "file", "path": "f%d/%d.txt" % (page, i), "size": 1,
                                        "oid": "0" * 40} for i in range(5000)]).encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.send_header("Link", '<%s/api/models/org/fake/tree/%s?recursive=true&page=%d>; rel="next"'
                                     % (hub.url, hub.COMMIT, page + 1))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                if self.path.startswith("/api/models/org/fake/tree/"):
                    return self.send_json([hub.entry(p) for p in sorted(hub.files)])
                prefix = "/org/fake/resolve/%s/" % hub.COMMIT
                if self.path.startswith(prefix):
                    return self.resolve(self.path[len(prefix):])
                self.send_json({"error": "nope"}, 404)

            def do_HEAD(self):
                hub.hits.append((self.command, self.path, None))
                prefix = "/org/fake/resolve/%s/" % hub.COMMIT
                path = self.path[len(prefix):]
                if not self.path.startswith(prefix) or path not in hub.files:
                    self.send_response(404)
                    self.send_header("X-Error-Code", "EntryNotFound")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(hub.files[path])))
                self.send_header("ETag", '"%s"' % hub.etag(path))
                if hub.lfs(path):
                    self.send_header("X-Linked-Etag", '"%s"' % hub.etag(path))
                    self.send_header("X-Linked-Size", str(len(hub.files[path])))
                self.end_headers()

            def resolve(self, path):
                if hub.mode == "redirect-other-host" and not self.path.startswith("/cdn/"):
                    self.send_response(302)
                    self.send_header("Location", "http://localhost:%d/cdn/%s" % (hub.port, path))
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                data = hub.files[path]
                if hub.mode == "bad-content":
                    data = bytes(len(data))  # right size, wrong bytes
                elif hub.mode == "bad-size":
                    data = data + b"extra"
                rng = self.headers.get("Range")
                start, end = 0, len(data) - 1
                status = 200
                if rng and hub.mode not in ("ignore-range", "ignore-range-truncate"):
                    a, b = rng.split("=")[1].split("-")
                    start, end = int(a), (int(b) if b else len(data) - 1)
                    status = 206
                body = data[start:end + 1]
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                if status == 206:
                    self.send_header("Content-Range", "bytes %d-%d/%d" % (start, end, len(data)))
                self.send_header("ETag", '"%s"' % hub.etag(path))
                self.end_headers()
                if hub.mode == "ignore-range-truncate" or (hub.mode == "truncate-once" and path not in hub.truncated):
                    hub.truncated.add(path)
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if hub.mode == "trickle":
                    for i in range(len(body)):
                        try:
                            self.wfile.write(body[i:i + 1])
                            self.wfile.flush()
                        except (BrokenPipeError, ConnectionResetError):
                            return
                        time.sleep(1)
                    return
                if hub.mode == "slow":
                    step = max(1, hub.rate // 10)
                    for i in range(0, len(body), step):
                        try:
                            self.wfile.write(body[i:i + step])
                            self.wfile.flush()
                        except (BrokenPipeError, ConnectionResetError):
                            return
                        time.sleep(0.1)
                    return
                self.wfile.write(body)

        class QuietServer(http.server.ThreadingHTTPServer):
            def handle_error(self, request, client_address):
                pass  # clients hanging up on a lying server is the point

        self.server = QuietServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = "http://127.0.0.1:%d" % self.port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def etag(self, path):
        data = self.files[path]
        return sha256(data) if self.lfs(path) else git_blob_sha1(data)

    def lfs(self, path):
        return path.endswith(".bin")

    def entry(self, path):
        data = self.files[path]
        e = {"type": "file", "path": path, "size": len(data), "oid": git_blob_sha1(data)}
        if self.lfs(path):
            e["lfs"] = {"oid": sha256(data), "size": len(data), "pointerSize": 130}
        return e

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.stop()


class TestCase(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="llmpt-it-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def path(self, *parts):
        return os.path.join(self.tmp, *parts)

    def reserve_port(self):
        """A loopback port kept from other tests until this one ends
        (reserve_port()): for a server started later on a known port."""
        port, sock = reserve_port()
        self.addCleanup(sock.close)
        return port

    def dead_url(self):
        """An http:// URL on loopback that refuses connections for the whole
        test (nothing can listen there while it is reserved, except our own
        servers started on it on purpose)."""
        return "http://127.0.0.1:%d" % self.reserve_port()

    def files_under(self, root):
        out = []
        for d, dirs, files in os.walk(root):
            for f in files + [x for x in dirs if os.path.islink(os.path.join(d, x))]:
                out.append(os.path.relpath(os.path.join(d, f), root))
        return sorted(out)

    def assertModes(self, repo_dir, mode):
        """Every blob and ref of a cache repo has `mode`, as huggingface_hub
        makes them (0666 & ~umask)."""
        found = 0
        for sub in ("blobs", "refs"):
            for d, _, files in os.walk(os.path.join(repo_dir, sub)):
                for f in files:
                    found += 1
                    got = os.stat(os.path.join(d, f)).st_mode & 0o777
                    self.assertEqual(got, mode, "%s/%s is %o" % (d, f, got))
        self.assertGreater(found, 1)

    def assertExit(self, proc, code):
        self.assertEqual(proc.returncode, code,
                         "exit %d, wanted %d\nstdout: %s\nstderr: %s" %
                         (proc.returncode, code, proc.stdout, proc.stderr))


class UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP over a Unix socket (the daemon's control API)."""

    def __init__(self, path, timeout=30):
        super().__init__("llmpt", timeout=timeout)
        self.unix_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.unix_path)


def unix_api(sock, method, path, body=None, headers=None, timeout=30):
    """One request to the control API on `sock`: (status, JSON body or None)."""
    c = UnixHTTPConnection(sock, timeout=timeout)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read()
        return r.status, (json.loads(data) if data else None)
    finally:
        c.close()


class SlowLink:
    """A proxy in front of an HTTP server whose bodies share one rate limit:
    the Hub behind a WAN link. Counts the body bytes of resolve answers it
    passed on (the origin's egress as the link sees it)."""

    def __init__(self, upstream, rate):
        import urllib.parse
        self.rate = rate
        self.sent = 0
        self.lock = threading.Lock()
        self.next_free = time.monotonic()  # when the link can send the next byte
        up = urllib.parse.urlparse(upstream)
        link = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def forward(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                conn = http.client.HTTPConnection(up.hostname, up.port, timeout=30)
                try:
                    conn.request(self.command, self.path, body=body, headers=headers)
                    r = conn.getresponse()
                    self.send_response(r.status)
                    for k, v in r.getheaders():
                        if k.lower() not in ("connection", "transfer-encoding"):
                            self.send_header(k, v)
                    self.end_headers()
                    if self.command == "HEAD":
                        return
                    resolve = "/resolve/" in self.path
                    while True:
                        chunk = r.read(16384)
                        if not chunk:
                            break
                        link.pace(len(chunk))
                        self.wfile.write(chunk)
                        if resolve:
                            with link.lock:
                                link.sent += len(chunk)
                finally:
                    conn.close()

            do_GET = do_HEAD = do_POST = forward

        class QuietServer(http.server.ThreadingHTTPServer):
            def handle_error(self, request, client_address):
                pass  # a client that hangs up mid-body

        self.server = QuietServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def pace(self, n):
        with self.lock:
            start = max(self.next_free, time.monotonic())
            self.next_free = start + n / self.rate
            wait = self.next_free - time.monotonic()
        if wait > 0:
            time.sleep(wait)

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
