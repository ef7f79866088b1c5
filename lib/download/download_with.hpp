// llmpt::download() with its Hub passed in: the seam the unit tests use to
// drive a download's decisions (the revision resolved or not, the Hub down
// with the snapshot cached, what is already in the cache) with a fake Hub
// and no sockets. `hub` null: the Hub at settings.endpoint; `session` null:
// one is started if peers have the snapshot.
#pragma once

#include <llmpt/download.hpp>

#include "hub/hub.hpp"

namespace llmpt {

Result<DownloadResult> download_with(hub::HubApi* hub, Session* session, const Settings& settings,
                                     const DownloadRequest& request, const EventHandler& on_event);

} // namespace llmpt
