#include "progress.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

#include <cstdio>
#include <type_traits>

namespace llmpt::cli {

std::string human_bytes(double b) {
    const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (b >= 1024 && u < 4) { b /= 1024; ++u; }
    char buf[32];
    std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", b, units[u]);
    return buf;
}

std::string human_duration(double s) {
    if (s < 0 || s > 99 * 3600) return "--:--";
    const auto t = static_cast<long>(s);
    char buf[32];
    if (t >= 3600) std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
    else std::snprintf(buf, sizeof buf, "%ld:%02ld", t / 60, t % 60);
    return buf;
}

void ProgressBar::on_event(const Event& e) {
    if (const auto* w = std::get_if<WarningEvent>(&e)) {
        if (warnings_) std::fprintf(stderr, "%swarning: %s\n", drawn_ ? "\r\033[K" : "", w->message.c_str());
        return;
    }
    if (!enabled_) return;
    if (const auto* p = std::get_if<ProgressEvent>(&e)) return draw(*p);
    if (const auto* plan = std::get_if<PlanEvent>(&e)) {
        std::fprintf(stderr, "%zu files, %s (%zu already cached), commit %s\n", plan->files_total,
                     human_bytes(static_cast<double>(plan->bytes_total)).c_str(), plan->files_cached,
                     plan->commit.c_str());
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
    std::string line = "[" + bar + "] " + std::to_string(static_cast<int>(frac * 100)) + "% " +
                       human_bytes(static_cast<double>(p.bytes_done)) + "/" +
                       human_bytes(static_cast<double>(p.bytes_total)) + " " + human_bytes(p.rate) +
                       "/s ETA " + human_duration(eta);
    if (!p.active.empty()) {
        line += " " + p.active.front();
        if (p.active.size() > 1) line += " +" + std::to_string(p.active.size() - 1);
    }
    if (static_cast<int>(line.size()) > cols - 1) line.resize(static_cast<std::size_t>(cols - 1));
    std::fprintf(stderr, "\r%s\033[K", line.c_str());
    drawn_ = true;
}

void ProgressBar::finish() {
    if (drawn_) std::fprintf(stderr, "\n");
    drawn_ = false;
}

} // namespace llmpt::cli
