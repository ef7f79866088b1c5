"""Helpers for the P2P tests: python3-libtorrent peers we control (rate
limits, stopping mid-transfer, corrupt data) next to our own seeder."""

import os
import time

import libtorrent as lt


def session(upload_rate=0):
    return lt.session({"listen_interfaces": "127.0.0.1:0", "enable_dht": False, "enable_lsd": False,
                       "enable_upnp": False, "enable_natpmp": False, "enable_outgoing_utp": False,
                       "enable_incoming_utp": False, "allow_multiple_connections_per_ip": True,
                       "upload_rate_limit": upload_rate, "alert_mask": 0})


class PySeeder:
    """A libtorrent seeder of `torrent_data` whose files are under save_path."""

    def __init__(self, torrent_data, save_path, tracker_url, upload_rate=0, lie=False):
        """lie: claim every piece without ever checking the files (a corrupt
        peer); otherwise seed_mode, which checks each piece before its first
        upload and drops the pieces that fail."""
        self.ses = session(upload_rate)
        atp = lt.add_torrent_params()
        atp.ti = lt.torrent_info(torrent_data)
        # save_path holds {commit}/{path}; libtorrent reads a one-file v2
        # torrent as a single-file torrent, whose file has no root folder.
        name = lt.bdecode(torrent_data)[b"info"][b"name"].decode()
        if not atp.ti.files().file_path(0).startswith(atp.ti.name() + "/"):
            save_path = os.path.join(save_path, name)
        atp.save_path = save_path
        atp.trackers = [tracker_url + "/announce"]
        atp.flags = atp.flags & ~lt.torrent_flags.auto_managed & ~lt.torrent_flags.paused
        if lie:
            atp.have_pieces = [True] * atp.ti.num_pieces()
        else:
            atp.flags |= lt.torrent_flags.seed_mode
        self.h = self.ses.add_torrent(atp)
        if upload_rate:
            self.h.set_upload_limit(upload_rate)  # session limits spare loopback peers
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not self.h.status().current_tracker:
            time.sleep(0.05)

    def uploaded(self):
        return self.h.status().total_payload_upload

    def wait_uploaded(self, at_least, timeout=30):
        deadline = time.monotonic() + timeout
        while self.uploaded() < at_least and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.uploaded()

    def stop(self):
        """Gone mid-transfer, without a goodbye (as SIGSTOP or a crash looks)."""
        self.ses.pause()
        self.ses.remove_torrent(self.h)



class PartialSeeder(PySeeder):
    """A peer that has only some of the files (it checked what its folder
    holds), as one still downloading the snapshot: a thin swarm."""

    def __init__(self, torrent_data, save_path, tracker_url):
        self.ses = session()
        atp = lt.add_torrent_params()
        atp.ti = lt.torrent_info(torrent_data)
        name = lt.bdecode(torrent_data)[b"info"][b"name"].decode()
        if not atp.ti.files().file_path(0).startswith(atp.ti.name() + "/"):
            save_path = os.path.join(save_path, name)
        atp.save_path = save_path
        atp.trackers = [tracker_url + "/announce"]
        atp.flags = atp.flags & ~lt.torrent_flags.auto_managed & ~lt.torrent_flags.paused
        self.h = self.ses.add_torrent(atp)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and (self.h.status().state in (lt.torrent_status.checking_files,
                                                                        lt.torrent_status.checking_resume_data)
                                               or not self.h.status().current_tracker):
            time.sleep(0.05)


def announce_seeder(tracker_url, torrent_data, port=6999):
    """Makes the tracker list a seeder for the torrent (one that is never
    there): the download then looks at the torrent instead of going
    straight to HTTP."""
    from tracker_harness import announce
    ih = lt.torrent_info(torrent_data).info_hashes()
    announce(tracker_url, bytes.fromhex(str(ih.v2))[:20], port, event="started", left=0)


class SlowLeecher:
    """A python3-libtorrent peer downloading the torrent at `rate` bytes/s:
    a peer that still needs the snapshot."""

    def __init__(self, torrent_data, save_path, tracker_url, rate=64 * 1024):
        self.ses = session()
        self.ses.apply_settings({"download_rate_limit": rate})
        atp = lt.add_torrent_params()
        atp.ti = lt.torrent_info(torrent_data)
        atp.save_path = save_path
        atp.trackers = [tracker_url + "/announce"]
        atp.flags = atp.flags & ~lt.torrent_flags.auto_managed & ~lt.torrent_flags.paused
        self.h = self.ses.add_torrent(atp)
        self.h.set_download_limit(rate)  # session limits spare loopback peers
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not self.h.status().current_tracker:
            time.sleep(0.05)

    def downloaded(self):
        return self.h.status().total_payload_download

    def stop(self):
        """Gone (a second call does nothing)."""
        if self.h is None:
            return
        self.ses.pause()
        self.ses.remove_torrent(self.h)
        self.h = None
