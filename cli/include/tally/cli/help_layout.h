// How tallyd, tallyctl and tally-loadgen lay out their --help: for an 80-column terminal and
// for help2man, which makes the man pages from it at build time, so that the three read alike.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace CLI {
class App;
}  // namespace CLI

namespace tally::cli {

inline constexpr std::size_t kHelpWidth = 80;

// `text` broken at spaces into lines of at most `width` bytes (wider only for a word that
// long), keeping the line breaks it has.
std::string wrapped(std::string_view text, std::size_t width);

// Gives `app`, and the subcommands added to it afterwards, the layout: descriptions wrapped to
// kHelpWidth beside an options column `options_column` wide, "-h, --help" spelled as man pages
// spell it, and a subcommand listed by its description's first sentence (its own --help has
// the rest).
void use_help_layout(CLI::App& app, std::size_t options_column);

}  // namespace tally::cli
