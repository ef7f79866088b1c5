// The progress line `llmpt download` draws on stderr when it is a terminal.
#pragma once

#include <llmpt/events.hpp>

#include <chrono>
#include <cstdint>
#include <string>

namespace llmpt::cli {

using llmpt::human_bytes;
std::string human_duration(double seconds);

class ProgressBar {
public:
    // `enabled`: draw the bar (stderr is a terminal); `warnings`: print
    // warnings either way (off with --quiet).
    ProgressBar(bool enabled, bool warnings) : enabled_(enabled), warnings_(warnings) {}
    void on_event(const Event& e);
    void finish();

private:
    void draw(const ProgressEvent& p);
    bool enabled_;
    bool warnings_;
    bool drawn_ = false;
    std::chrono::steady_clock::time_point last_{};
};

} // namespace llmpt::cli
