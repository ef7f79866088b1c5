// llmpt's libtorrent disk back end: pread/pwrite on a worker pool.
//
// libtorrent 2.0 ships two back ends. "mmap" maps whole files, so a model's
// pages count against the process's RSS; "posix" runs every job on the
// network thread and opens and closes the file for each 16 KiB block, so on
// a fast link one core does the socket, the page-cache copy and the SHA-256
// of every block. This one keeps RSS small like "posix" and moves the work
// off the network thread:
//   - jobs run on a small thread pool (settings_pack::aio_threads workers);
//   - files stay open in a bounded cache of descriptors;
//   - a v2 block's SHA-256 is taken from the buffer when it is written, so
//     checking a downloaded piece reads nothing back from disk;
//   - a piece's hash job waits for that piece's writes still in flight;
//   - writes are copied and queued up to max_queued_disk_bytes, then the
//     caller is told to wait (disk_observer), which bounds memory.
#pragma once

#include <libtorrent/disk_interface.hpp>
#include <libtorrent/io_context.hpp>

#include <memory>

namespace libtorrent {
struct counters;
struct settings_interface;
} // namespace libtorrent

namespace llmpt::p2p {

// A libtorrent disk_io_constructor (session_params::disk_io_constructor).
std::unique_ptr<libtorrent::disk_interface> pooled_disk_io(libtorrent::io_context& ios,
                                                           const libtorrent::settings_interface& settings,
                                                           libtorrent::counters& counters);

} // namespace llmpt::p2p
