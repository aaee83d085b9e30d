// What build this is: the release version (CMakeLists.txt's project VERSION) and the git
// revision it was built from (`git describe --always --dirty`, "unknown" outside a checkout).
// Shown by every binary's --version and by the tally_build_info metric.
#pragma once

#include <string_view>

namespace tally::base {

std::string_view version();
std::string_view revision();

}  // namespace tally::base
