#include "progress.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

#include <fmt/format.h>

#include <type_traits>

namespace llmpt::cli {

std::string human_duration(double s) {
    if (s < 0 || s > 99 * 3600) return "--:--";
    const auto t = static_cast<long>(s);
    if (t >= 3600) return fmt::format("{}:{:02}:{:02}", t / 3600, (t / 60) % 60, t % 60);
    return fmt::format("{}:{:02}", t / 60, t % 60);
}

void ProgressBar::on_event(const Event& e) {
    if (const auto* w = std::get_if<WarningEvent>(&e)) {
        if (warnings_) fmt::print(stderr, "{}warning: {}\n", drawn_ ? "\r\033[K" : "", w->message);
        return;
    }
    if (!enabled_) return;
    if (const auto* p = std::get_if<ProgressEvent>(&e)) return draw(*p);
    if (const auto* plan = std::get_if<PlanEvent>(&e)) {
        fmt::print(stderr, "{} files, {} ({} already cached), commit {}\n", plan->files_total,
                   human_bytes(plan->bytes_total), plan->files_cached, plan->commit.str());
    }
}

void ProgressBar::draw(const ProgressEvent& p) {
    winsize ws{};
    const int cols = (::ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20) ? ws.ws_col : 80;
    const double frac = p.bytes_total ? static_cast<double>(p.bytes_done) / static_cast<double>(p.bytes_total) : 1.0;
    const int width = 20;
    std::string bar(static_cast<std::size_t>(frac * width), '#');
    bar.resize(width, '.');
    const double eta = p.rate > 0 ? static_cast<double>(p.bytes_total - p.bytes_done) / p.rate : -1;
    std::string line = fmt::format("[{}] {}% {}/{} {}/s ETA {}", bar, static_cast<int>(frac * 100),
                                   human_bytes(p.bytes_done), human_bytes(p.bytes_total),
                                   human_bytes(static_cast<std::uint64_t>(p.rate)), human_duration(eta));
    if (!p.active.empty()) {
        line += " " + p.active.front();
        if (p.active.size() > 1) line += fmt::format(" +{}", p.active.size() - 1);
    }
    if (static_cast<int>(line.size()) > cols - 1) line.resize(static_cast<std::size_t>(cols - 1));
    fmt::print(stderr, "\r{}\033[K", line);
    drawn_ = true;
}

void ProgressBar::finish() {
    if (drawn_) fmt::print(stderr, "\n");
    drawn_ = false;
}

} // namespace llmpt::cli
