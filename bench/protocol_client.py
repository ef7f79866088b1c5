#!/usr/bin/env python3
"""A Hub client as huggingface_hub's snapshot_download speaks the protocol:
the revision's file list, then per file a HEAD without following redirects
and a GET of the URL it names, streamed to a file. For bench/hf_endpoint.sh.

    protocol_client.py HUB_URL REPO OUT_DIR
"""
import json
import os
import sys
import urllib.request


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *a, **k):
        return None


def main():
    hub, repo, out = sys.argv[1:4]
    with urllib.request.urlopen("%s/api/models/%s/revision/main" % (hub, repo), timeout=60) as r:
        info = json.load(r)
    opener = urllib.request.build_opener(NoRedirect)
    for s in info["siblings"]:
        url = "%s/%s/resolve/%s/%s" % (hub, repo, info["sha"], s["rfilename"])
        try:
            with opener.open(urllib.request.Request(url, method="HEAD"), timeout=60) as r:
                location = url
        except urllib.error.HTTPError as e:  # the Hub's 302 to its CDN
            if e.code not in (301, 302, 307):
                raise
            location = urllib.parse.urljoin(url, e.headers["Location"])
        path = os.path.join(out, s["rfilename"])
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with urllib.request.urlopen(location, timeout=60) as r, open(path + ".incomplete", "wb") as f:
            while chunk := r.read(10 << 20):
                f.write(chunk)
        os.rename(path + ".incomplete", path)


if __name__ == "__main__":
    main()
