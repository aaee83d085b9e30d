// How the connection's buffers are kept between requests: a voter's next request allocates
// nothing, and no client makes an idle connection hold much.
#pragma once

#include <cstddef>
#include <string>

namespace tally::ingest::internal {

// Empties `buffer`, keeping its capacity for the next use unless that is over `kept` bytes.
inline void clear_keeping(std::string& buffer, std::size_t kept) {
  if (buffer.capacity() > kept) {
    std::string().swap(buffer);
  } else {
    buffer.clear();
  }
}

}  // namespace tally::ingest::internal
