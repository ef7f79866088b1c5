// `llmpt serve --upstream URL` (endpoint/mirror.cpp).
#pragma once

#include <llmpt/serve.hpp>

namespace llmpt::endpoint {

Result<std::unique_ptr<Server>> start_mirror(const ServeOptions& options);

} // namespace llmpt::endpoint
