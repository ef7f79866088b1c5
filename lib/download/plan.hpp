// The unit of work of a download: one blob to fetch and every path of the
// snapshot that points at it.
#pragma once

#include "hub/hub.hpp"

#include <string>
#include <vector>

namespace llmpt::fetch {

struct Wanted {
    hub::RemoteFile file;            // the first path with this etag
    std::vector<std::string> paths;  // every path to link to the blob
};

} // namespace llmpt::fetch
