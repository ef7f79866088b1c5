"""@huggingface/hub (npm, installed by the set-up into tests/integration/js)
driven as a user's program drives it: one call per `node` run."""

import json
import os
import shutil
import subprocess

JS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "js")
NODE = shutil.which("node")


def available():
    return NODE is not None and os.path.isdir(os.path.join(JS_DIR, "node_modules", "@huggingface", "hub"))


def hfjs(request, timeout=120, env=None):
    """Runs one call ({"op": "file"|"snapshot", ...}); returns (exit code, answer)."""
    full_env = dict(os.environ)
    full_env.pop("HF_TOKEN", None)
    if env:
        full_env.update(env)
    p = subprocess.run([NODE, os.path.join(JS_DIR, "hfjs.mjs"), json.dumps(request)], capture_output=True,
                       text=True, timeout=timeout, cwd=JS_DIR, env=full_env)
    lines = [l for l in p.stdout.splitlines() if l.startswith("{")]
    answer = json.loads(lines[-1]) if lines else {"error": p.stderr}
    return p.returncode, answer
