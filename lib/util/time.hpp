// util/time: the one timestamp format of our logs and records.
#pragma once

#include <ctime>
#include <string>

namespace llmpt::util {

// "2026-11-21T20:45:00Z": UTC, seconds, ISO 8601.
std::string utc_timestamp(std::time_t t = std::time(nullptr));
// "2026-11-21T20:45:00.000Z": the Hub's dates (lastModified, lastCommit.date).
std::string iso8601_millis(std::time_t t);

} // namespace llmpt::util
