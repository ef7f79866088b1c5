"""Helpers for the tracker tests: a real llmpt-tracker, torrents made by
python3-libtorrent (Debian), publish bodies and announces."""

import base64
import glob
import json
import os
import re
import subprocess
import tempfile
import urllib.parse
import urllib.request

import libtorrent as lt

from harness import LLMPT, import_repo, read_line, stop_process

TRACKER = os.environ.get("LLMPT_TRACKER_BIN") or os.path.join(os.path.dirname(LLMPT), "llmpt-tracker")
EXAMPLES = os.path.dirname(LLMPT)


class Tracker:
    def __init__(self, db, *extra, port=0, host="127.0.0.1"):
        self.db = db
        self.extra = list(extra)
        self.listen = ("[%s]:%d" if ":" in host else "%s:%d") % (host, port)
        self.start()

    def start(self):
        self.log_path = tempfile.mktemp(prefix="llmpt-tracker-log-")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen([TRACKER, "--listen", self.listen, "--db", self.db] + self.extra,
                                     stdout=subprocess.PIPE, stderr=self.log, text=True)
        line = read_line(self.proc.stdout, 20)
        if "listening on" not in line:
            raise AssertionError("tracker did not start: %r" % line)
        self.url = re.search(r"listening on (http://\S+)", line).group(1)
        self.port = int(self.url.rsplit(":", 1)[1])

    def stop(self):
        stop_process(self.proc)
        self.log.close()

    def logs(self):
        with open(self.log_path) as f:
            return f.read()

    def restart(self):
        self.stop()
        self.start()

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.stop()
        os.unlink(self.log_path)


def piece_length_for(total):
    MiB, GiB, TiB = 1 << 20, 1 << 30, 1 << 40
    for limit, pl in ((100 * MiB, 256 << 10), (GiB, MiB), (10 * GiB, 4 * MiB), (100 * GiB, 16 * MiB),
                      (TiB, 32 * MiB)):
        if total < limit:
            return pl
    return 64 * MiB


def make_snapshot(cache, repo, files, revision="main"):
    commit = import_repo(cache, repo, files, revision=revision)
    snap = glob.glob(os.path.join(cache, "models--" + repo.replace("/", "--"), "snapshots", commit))[0]
    return commit, snap


def snapshot_files(snapshot):
    """(path, size) of every file under a snapshot folder, links followed."""
    out = []
    for dirpath, _, names in os.walk(snapshot, followlinks=True):
        for n in names:
            full = os.path.join(dirpath, n)
            out.append((os.path.relpath(full, snapshot), os.path.getsize(full)))
    return out


def make_torrent(snapshot, piece_length=None, hybrid=False, v1_only=False, tracker_url=None):
    """python3-libtorrent's torrent of a snapshot as docs/design.md defines it:
    every file added by path and size, no attributes (a snapshot's symlinks
    would make add_files mark every file executable)."""
    fs = lt.file_storage()
    name = os.path.basename(snapshot.rstrip("/"))
    for path, size in snapshot_files(snapshot):
        fs.add_file(name + "/" + path, size)
    pl = piece_length or piece_length_for(fs.total_size())
    flags = lt.create_torrent.v1_only if v1_only else (0 if hybrid else lt.create_torrent.v2_only)
    t = lt.create_torrent(fs, pl, flags=flags)
    if tracker_url:
        t.add_tracker(tracker_url + "/announce")
    t.set_creator("llmpt")
    lt.set_piece_hashes(t, os.path.dirname(snapshot.rstrip("/")))
    return lt.bencode(t.generate())


def file_attrs(data):
    """Every `attr` of a file of the repo in a torrent's info dict (the v1
    file list and the v2 file tree); pad files (attr "p") are not files of
    the repo."""
    found = []

    def walk(node):
        if isinstance(node, dict):
            if b"attr" in node and node.get(b"path", [b""])[0] != b".pad":
                found.append(node[b"attr"])
            for k, v in node.items():
                if k != b"attr":
                    walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
    walk(lt.bdecode(data)[b"info"])
    return found


def facts(data):
    ti = lt.torrent_info(data)
    ih = ti.info_hashes()
    fs = ti.files()
    # The info dict's name: libtorrent reports a one-file v2 torrent under
    # the file's name.
    name = lt.bdecode(data)[b"info"][b"name"].decode()
    files = []
    for i in range(fs.num_files()):
        if fs.file_flags(i) & lt.file_storage.flag_pad_file:
            continue
        path = fs.file_path(i)
        prefix = name + "/"
        files.append({"path": path[len(prefix):] if path.startswith(prefix) else path, "size": fs.file_size(i)})
    v2 = str(ih.v2) if ih.has_v2() else ""
    return {
        "name": name, "info_hash": v2, "announce_key": v2[:40],
        "v1": str(ih.v1) if ih.has_v1() else "",
        "total_size": sum(f["size"] for f in files), "file_count": len(files),
        "piece_length": ti.piece_length(), "files": files,
    }


def publish_body(repo, revision, data, /, **overrides):
    f = facts(data)
    body = {"repo_id": repo, "revision": revision, "repo_type": "model", "name": f["name"],
            "info_hash": f["info_hash"], "announce_key": f["announce_key"], "total_size": f["total_size"],
            "file_count": f["file_count"], "piece_length": f["piece_length"], "files": f["files"],
            "torrent_data": base64.b64encode(data).decode()}
    body.update(overrides)
    return body


def http(url, method="GET", body=None, headers=None, timeout=20):
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    req = urllib.request.Request(url, method=method, data=data, headers=headers or {})
    if isinstance(body, dict):
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def announce(tracker_url, info_hash_raw, port, peer_id=None, **params):
    q = {"info_hash": info_hash_raw, "peer_id": peer_id or (b"-LT0001-%012d" % port), "port": port,
         "uploaded": 0, "downloaded": 0, "left": params.pop("left", 1000), "compact": 1}
    q.update(params)
    st, h, body = http(tracker_url + "/announce?" + urllib.parse.urlencode(q))
    return st, lt.bdecode(body) if body else None


def compact_peers(blob):
    return [("%d.%d.%d.%d" % tuple(blob[i:i + 4]), int.from_bytes(blob[i + 4:i + 6], "big"))
            for i in range(0, len(blob), 6)]
