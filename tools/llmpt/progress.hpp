// The progress line `llmpt download` draws on stderr when it is a terminal.
#pragma once

#include <llmpt/events.hpp>

#include <chrono>
#include <cstdint>
#include <string>

namespace llmpt::cli {

std::string human_bytes(double bytes);
std::string human_duration(double seconds);

class ProgressBar {
public:
    explicit ProgressBar(bool enabled) : enabled_(enabled) {}
    void on_event(const Event& e);
    void finish();

private:
    void draw(const ProgressEvent& p);
    bool enabled_;
    bool drawn_ = false;
    std::chrono::steady_clock::time_point last_{};
};

} // namespace llmpt::cli
