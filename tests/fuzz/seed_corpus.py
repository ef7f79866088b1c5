#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets (tests/fuzz/corpus/<target>/)
from the formats as llmpt writes them: torrents made by `llmpt
create-torrent` on a small cache, and hand-written protocol samples.

    tests/fuzz/seed_corpus.py build/bin/llmpt

Files already there (found by the fuzzers, minimised) are kept."""

import base64
import hashlib
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def put(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def make_cache(root, files):
    repo = os.path.join(root, "models--org--fuzz")
    os.makedirs(os.path.join(repo, "blobs"))
    os.makedirs(os.path.join(repo, "refs"))
    with open(os.path.join(repo, "refs", "main"), "w") as f:
        f.write(COMMIT)
    for path, data in files.items():
        blob = hashlib.sha256(data).hexdigest()
        with open(os.path.join(repo, "blobs", blob), "wb") as f:
            f.write(data)
        link = os.path.join(repo, "snapshots", COMMIT, path)
        os.makedirs(os.path.dirname(link), exist_ok=True)
        os.symlink(os.path.relpath(os.path.join(repo, "blobs", blob), os.path.dirname(link)), link)


def torrents(llmpt):
    shapes = {
        "one-file": {"config.json": b'{"a": 1}\n'},
        "shards": {"config.json": b"{}\n", "model-00001.safetensors": os.urandom(70000),
                   "model-00002.safetensors": os.urandom(20000), "sub/dir/tokenizer.json": b"[]"},
        "empty-file": {"a.txt": b"", "b.bin": os.urandom(5000)},
    }
    out = {}
    for name, files in shapes.items():
        for hybrid in (False, True):
            with tempfile.TemporaryDirectory() as tmp:
                make_cache(tmp, files)
                args = [llmpt, "create-torrent", "org/fuzz", "--cache-dir", tmp, "-o", "-"]
                if hybrid:
                    args.append("--hybrid")
                data = subprocess.run(args, check=True, capture_output=True).stdout
                key = name + ("-hybrid" if hybrid else "")
                out[key] = (data, files)
                put("torrent", key + ".torrent", data)
    return out


def info_hash(torrent):
    # The v2 info hash: sha256 of the bencoded info dict, found by its key.
    start = torrent.index(b"4:infod") + 6
    depth, i = 0, start
    while True:  # walk the bencode to the end of the info dict
        c = torrent[i:i + 1]
        if c in (b"d", b"l"):
            depth, i = depth + 1, i + 1
        elif c == b"e":
            depth, i = depth - 1, i + 1
            if depth == 0:
                return hashlib.sha256(torrent[start:i]).hexdigest()
        elif c == b"i":
            i = torrent.index(b"e", i) + 1
        else:
            colon = torrent.index(b":", i)
            i = colon + 1 + int(torrent[i:colon])


def main():
    llmpt = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "..", "build", "bin", "llmpt")
    made = torrents(llmpt)

    for key, (data, files) in made.items():
        h = info_hash(data)
        body = {"repo_id": "org/fuzz", "revision": COMMIT, "repo_type": "model", "name": COMMIT,
                "info_hash": h, "announce_key": h[:40], "total_size": sum(len(v) for v in files.values()),
                "file_count": len(files), "piece_length": 16384,
                "files": [{"path": p, "size": len(v)} for p, v in sorted(files.items())],
                "torrent_data": base64.b64encode(data).decode()}
        put("publish", key + ".json", json.dumps(body))
    put("publish", "not-an-object.json", "[1, 2]")
    put("publish", "bad-base64.json", json.dumps({"repo_id": "org/fuzz", "revision": COMMIT, "torrent_data": "!!"}))

    ih = "%12%34%56%78%9a%bc%de%f0%12%34%56%78%9a%bc%de%f0%12%34%56%78"
    pid = "-LT2080-abcdefghijkl"
    for name, q in {
        "started": "info_hash=%s&peer_id=%s&port=6881&uploaded=0&downloaded=0&left=1000&event=started&compact=1" % (ih, pid),
        "seeder": "info_hash=%s&peer_id=%s&port=1&uploaded=5&downloaded=5&left=0&numwant=200&event=completed" % (ih, pid),
        "stopped-ip": "info_hash=%s&peer_id=%s&port=65535&event=stopped&ip=10.0.0.1&no_peer_id=1" % (ih, pid),
        "scrape-two": "info_hash=%s&info_hash=%s" % (ih, ih.replace("12", "ff")),
        "repeated": "port=1&port=2&info_hash=&peer_id=%zz&left=-1",
    }.items():
        put("announce", name, q)

    record = {"repo_id": "org/fuzz", "revision": COMMIT, "repo_type": "model", "name": COMMIT,
              "info_hash": "ab" * 32, "announce_key": "ab" * 20, "total_size": 90000, "file_count": 2,
              "piece_length": 16384, "created_at": "2026-12-01T00:00:00Z",
              "files": [{"path": "a", "size": 1}], "stats": {"seeders": 1, "leechers": 2, "completed": 3}}
    put("tracker_answers", "records.json", json.dumps({"total": 1, "data": [record, {"x": 1}, 5]}))
    put("tracker_answers", "publish-result.json", json.dumps(
        {"message": "ok", "info_hash": "ab" * 32, "announce_key": "ab" * 20, "status": "created"}))
    put("tracker_answers", "error.json", json.dumps({"error": "no such torrent"}))
    put("tracker_answers", "cohort-join.json", json.dumps(
        {"state": "fetching", "cohort": "c1", "member": "m1", "piece_length": 16384, "lease_seconds": 15,
         "remaining": 3, "members": 2}))
    put("tracker_answers", "cohort-lease.json", json.dumps(
        {"state": "fetching", "lease_seconds": 15, "remaining": 1, "members": 2,
         "chunk": {"path": "model.bin", "first_piece": 0, "pieces": 2, "offset": 0, "length": 32768}}))
    put("tracker_answers", "cohort-published.json", json.dumps({"state": "published", "info_hash": "ab" * 32}))

    files = [{"path": "config.json", "size": 3}, {"path": "model.bin", "size": 70000}]
    put("cohort", "join.json", json.dumps({"repo_id": "org/fuzz", "repo_type": "model", "revision": COMMIT,
                                           "files": files}))
    put("cohort", "join-tracker.json", json.dumps({"repo_id": "org/fuzz", "revision": COMMIT, "files": files,
                                                   "tracker": "http://127.0.0.1:1"}))
    put("cohort", "lease.json", json.dumps({"cohort": "c1", "member": "m1", "want": True}))
    put("cohort", "report.json", json.dumps({"cohort": "c1", "member": "m1", "path": "model.bin",
                                             "first_piece": 0,
                                             "hashes": base64.b64encode(os.urandom(64)).decode()}))

    put("hub", "revision", json.dumps({"id": "org/fuzz", "sha": COMMIT, "siblings": []}))
    put("hub", "tree", json.dumps([
        {"type": "file", "path": "config.json", "size": 3, "oid": "a" * 40},
        {"type": "directory", "path": "sub", "oid": "b" * 40},
        {"type": "file", "path": "sub/model.safetensors", "size": 1 << 33, "oid": "c" * 40,
         "lfs": {"oid": "d" * 64, "size": 1 << 33, "pointerSize": 134}}]) +
        '\n--\nLink: <https://hub.example/api/models/org/fuzz/tree/x?cursor=abc>; rel="next"\n'
        'RateLimit: "api";r=0;t=55\nRateLimit-Policy: "fixed window";"api";q=500;w=300\n')
    put("hub", "resolve-headers", "\n--\nX-Linked-Etag: \"" + "d" * 64 + "\"\nX-Linked-Size: 8589934592\n"
        "ETag: \"" + "a" * 40 + "\"\nContent-Length: 3\nX-Repo-Commit: " + COMMIT +
        "\nRetry-After: Wed, 21 Oct 2015 07:28:00 GMT\n")

    put("task_request", "full.json", json.dumps({
        "repo": "org/fuzz", "repo_type": "dataset", "revision": "refs/pr/1", "files": ["a.json"],
        "include": ["*.safetensors"], "exclude": ["*.bin"], "cache_dir": "/tmp/c", "local_dir": "",
        "endpoint": "http://127.0.0.1:1", "token": "t", "tracker": "http://127.0.0.1:2",
        "no_p2p": False, "no_webseed": True, "p2p_timeout": 10, "connections": 4, "chunk_size": 8}))
    put("task_request", "minimal.json", json.dumps({"repo": "gpt2"}))
    put("task_request", "unknown-field.json", json.dumps({"repo": "gpt2", "colour": "red"}))

    header = "llmpt-parts 1 %d %d %s.abc.incomplete\n"
    size = (100000 << 16).to_bytes(8, "little")
    put("journal", "three-chunks", size + (header % (100000, 40000, "f" * 64) +
                                           "%020d\n" % 40000 + "%020d\n" % 123 + "%020d\n" % 0).encode())
    put("journal", "short", size + (header % (100000, 40000, "f" * 64) + "%020d\n" % 1).encode())

    for name, req in {
        "revision": "GET /api/models/org/fuzz/revision/main",
        "tree": "GET /api/datasets/org/fuzz/tree/main/sub%2Fdir?recursive=true\nbytes=0-99",
        "resolve": "GET /org/fuzz/resolve/refs%2Fpr%2F1/sub/model.safetensors\nbytes=-500",
        "resolve-dataset": "HEAD /datasets/org/fuzz/resolve/main/a%20b.json\nbytes=10-",
        "paths-info": "POST /api/models/org/fuzz/paths-info/" + COMMIT + "\nbytes=0-0,5-9",
        "cdn": "GET /_cdn/abc/" + "d" * 64 + "\nbytes=99999999999999999999-",
        "dotdot": "GET /org/fuzz/resolve/main/%2e%2e/etc/passwd\nbytes=5-1",
    }.items():
        put("routes", name, req)


if __name__ == "__main__":
    main()
