// The --help layout of tally's binaries. See help_layout.h.
#include "tally/cli/help_layout.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <memory>
#include <sstream>

namespace tally::cli {
namespace {

class HelpLayout final : public CLI::Formatter {
 public:
  explicit HelpLayout(std::size_t options_column) { column_width(options_column); }

  std::string make_description(const CLI::App* app) const override {
    std::string text = app->get_description();
    while (!text.empty() && text.back() == '\n') text.pop_back();
    return text.empty() ? text : wrapped(text, kHelpWidth) + "\n\n";
  }
  std::string make_subcommand(const CLI::App* command) const override {
    const std::string& text = command->get_description();
    const std::size_t stop = text.find(". ");
    std::ostringstream out;
    CLI::detail::format_help(
        out, command->get_display_name(true),
        wrapped(text.substr(0, stop == std::string::npos ? text.size() : stop + 1),
                kHelpWidth - get_column_width()),
        get_column_width());
    return out.str();
  }
  std::string make_option_name(const CLI::Option* option, bool positional) const override {
    std::string name = CLI::Formatter::make_option_name(option, positional);
    for (std::size_t at = name.find(','); at != std::string::npos; at = name.find(',', at + 2)) {
      name.insert(at + 1, " ");
    }
    return name;
  }
  std::string make_option_desc(const CLI::Option* option) const override {
    return wrapped(option->get_description(), kHelpWidth - get_column_width());
  }
};

}  // namespace

std::string wrapped(std::string_view text, std::size_t width) {
  std::string out;
  std::size_t column = 0;
  std::size_t at = 0;
  while (at < text.size()) {
    if (text[at] == '\n' || text[at] == ' ') {
      if (text[at] == '\n') {
        out.push_back('\n');
        column = 0;
      }
      ++at;
      continue;
    }
    const std::size_t end = std::min(text.find_first_of(" \n", at), text.size());
    const std::string_view word = text.substr(at, end - at);
    if (column > 0 && column + 1 + word.size() > width) {
      out.push_back('\n');
      column = 0;
    } else if (column > 0) {
      out.push_back(' ');
      ++column;
    }
    out.append(word);
    column += word.size();
    at = end;
  }
  return out;
}

void use_help_layout(CLI::App& app, std::size_t options_column) {
  app.formatter(std::make_shared<HelpLayout>(options_column));
}

}  // namespace tally::cli
