// The JSON values behind the public to_json() texts of events and results
// (llmpt/events.hpp, llmpt/download.hpp), for code inside the library that
// builds bigger documents from them (the daemon's tasks) without printing
// and parsing them back.
#pragma once

#include <llmpt/download.hpp>
#include <llmpt/events.hpp>

#include <nlohmann/json.hpp>

namespace llmpt {

nlohmann::json to_json_value(const Event& e);
nlohmann::json to_json_value(const DownloadResult& r);

} // namespace llmpt
