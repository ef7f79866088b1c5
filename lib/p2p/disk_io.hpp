// llmpt's libtorrent disk back end: pread/pwrite on a worker pool.
//
// libtorrent 2.0 ships two back ends. "mmap" maps whole files, so a model's
// pages count against the process's RSS; "posix" runs every job on the
// network thread and opens and closes the file for each 16 KiB block, so on
// a fast link one core does the socket, the page-cache copy and the SHA-256
// of every block. This one keeps RSS small like "posix" and moves the
// hashing off the network thread:
//   - jobs run on a small thread pool (settings_pack::aio_threads workers);
//   - files stay open in a bounded cache of descriptors;
//   - a block goes into the page cache on the network thread, straight from
//     libtorrent's receive buffer, while that is quick; once a write is slow
//     (the kernel throttles writers to the disk) writes are copied and
//     queued for one writer thread for a while, up to max_queued_disk_bytes,
//     then the caller is told to wait (disk_observer), which bounds memory.
//     queued_disk_io() always queues;
//   - a piece check waits for the piece's queued writes, reads it back (from
//     the page cache), hashes its v2 blocks side by side (util::sha256_each)
//     and feeds the same bytes to the files' stream hashes (stream_hash.hpp);
//   - a seeding read found in the page cache is served on the network
//     thread, anything else on the pool.
#pragma once

#include <libtorrent/disk_interface.hpp>
#include <libtorrent/io_context.hpp>
#include <libtorrent/session_params.hpp>

#include <memory>

namespace libtorrent {
struct counters;
struct settings_interface;
} // namespace libtorrent

namespace llmpt::p2p {

class StreamRegistry;

// A libtorrent disk_io_constructor (session_params::disk_io_constructor)
// whose storages take their files' stream hashes from `streams` (the
// session's). `queue_every_write`: never write on the network thread (for
// file systems whose writes can stall).
libtorrent::disk_io_constructor_type pooled_disk_io(std::shared_ptr<StreamRegistry> streams, bool queue_every_write);

} // namespace llmpt::p2p
