"""A real qBittorrent (Debian's qbittorrent-nox, installed by the set-up) on
loopback, driven through its Web API as its users' scripts drive it. Each
instance has its own profile folder, ports and save path; DHT, LSD, PeX
and UPnP are off so it finds peers only through our tracker."""

import json
import os
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
import uuid

from harness import free_port, stop_process

QBT = shutil.which("qbittorrent-nox")

CONF = """[LegalNotice]
Accepted=true

[BitTorrent]
Session\\DHTEnabled=false
Session\\LSDEnabled=false
Session\\PeXEnabled=false
Session\\BTProtocol=TCP
Session\\Port=%(port)d

[Preferences]
WebUI\\Address=127.0.0.1
WebUI\\LocalHostAuth=false
WebUI\\CSRFProtection=false
WebUI\\HostHeaderValidation=false
Connection\\UPnP=false
"""


class QBittorrent:
    def __init__(self, profile):
        self.profile = profile
        conf_dir = os.path.join(profile, "qBittorrent", "config")
        os.makedirs(conf_dir, exist_ok=True)
        # free_port() can lose its port to another test before qBittorrent
        # binds it: then it says so in its log, and it is started again on
        # other ports.
        for attempt in range(5):
            self.port = free_port()
            with open(os.path.join(conf_dir, "qBittorrent.conf"), "w") as f:
                f.write(CONF % {"port": self.port})
            self.web_port = free_port()
            self.url = "http://127.0.0.1:%d" % self.web_port
            self.log = open(os.path.join(profile, "qbt.log"), "w")
            self.proc = subprocess.Popen([QBT, "--profile=" + profile, "--webui-port=%d" % self.web_port],
                                         stdout=self.log, stderr=subprocess.STDOUT)
            if self.wait_ready():
                break
            self.proc.kill()
            self.proc.wait(10)
            self.log.close()
        else:
            raise AssertionError("qbittorrent-nox did not start (see %s)" % self.log.name)
        # Our seeder and downloader share 127.0.0.1 with everyone else here.
        self.call("POST", "/api/v2/app/setPreferences",
                  form={"json": json.dumps({"enable_multi_connections_from_same_ip": True})})

    def wait_ready(self):
        """True once the Web UI answers; False if a port was taken."""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                self.call("GET", "/api/v2/app/version")
                return True
            except OSError:
                if self.proc.poll() is not None:
                    raise AssertionError("qbittorrent-nox exited (see %s)" % self.log.name)
                self.log.flush()
                with open(self.log.name) as f:
                    if "already in use" in f.read():
                        return False
                time.sleep(0.1)
        raise AssertionError("qbittorrent-nox did not start in 30 s (see %s)" % self.log.name)

    def call(self, method, path, form=None, files=None, timeout=10):
        data, headers = None, {}
        if files:
            boundary = uuid.uuid4().hex
            parts = []
            for k, v in (form or {}).items():
                parts.append(b'--%s\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n' %
                             (boundary.encode(), k.encode(), str(v).encode()))
            for k, (name, content) in files.items():
                parts.append(b'--%s\r\nContent-Disposition: form-data; name="%s"; filename="%s"\r\n'
                             b'Content-Type: application/x-bittorrent\r\n\r\n' % (boundary.encode(), k.encode(),
                                                                                  name.encode()) + content + b"\r\n")
            data = b"".join(parts) + b"--%s--\r\n" % boundary.encode()
            headers["Content-Type"] = "multipart/form-data; boundary=" + boundary
        elif form is not None:
            data = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.read()

    def add(self, torrent_data, save_path, skip_checking=False):
        body = self.call("POST", "/api/v2/torrents/add",
                         form={"savepath": save_path, "paused": "false", "skip_checking": str(skip_checking).lower()},
                         files={"torrents": ("t.torrent", torrent_data)})
        if body.strip() != b"Ok.":
            raise AssertionError("qBittorrent refused the torrent: %r" % body)

    def torrents(self):
        return json.loads(self.call("GET", "/api/v2/torrents/info"))

    def wait(self, what, predicate, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ts = self.torrents()
            if ts and predicate(ts[0]):
                return ts[0]
            time.sleep(0.2)
        raise AssertionError("qBittorrent: timed out waiting for %s: %s" % (what, self.torrents()))

    def stop(self):
        try:
            self.call("POST", "/api/v2/app/shutdown")
            self.proc.wait(15)
        except Exception:
            pass
        stop_process(self.proc)
        self.log.close()
