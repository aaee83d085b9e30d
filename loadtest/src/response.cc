#include "tally/loadtest/response.h"

#include <algorithm>
#include <cstring>

namespace tally::loadtest {
namespace {

constexpr std::size_t kMaxHeaderBytes = 64 * 1024;

bool iequals_prefix(std::string_view line, std::string_view name) {
  if (line.size() < name.size()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    char c = line[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != name[i]) return false;
  }
  return true;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r')) {
    text.remove_suffix(1);
  }
  return text;
}

}  // namespace

char* ResponseParser::prepare(std::size_t bytes) {
  if (begin_ == end_) {
    begin_ = end_ = 0;
  } else if (begin_ > 0 && begin_ >= buffer_.size() / 2) {
    std::memmove(buffer_.data(), buffer_.data() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }
  if (buffer_.size() < end_ + bytes) buffer_.resize(std::max(end_ + bytes, buffer_.size() * 2));
  return buffer_.data() + end_;
}

void ResponseParser::commit(std::size_t bytes) { end_ += bytes; }

void ResponseParser::append(std::string_view bytes) {
  std::memcpy(prepare(bytes.size()), bytes.data(), bytes.size());
  commit(bytes.size());
}

void ResponseParser::reset() {
  begin_ = end_ = 0;
  failed_ = false;
}

std::optional<Response> ResponseParser::next() {
  for (;;) {
    if (failed_) return std::nullopt;
    const std::string_view input(buffer_.data() + begin_, end_ - begin_);
    const std::size_t head_end = input.find("\r\n\r\n");
    if (head_end == std::string_view::npos) {
      if (input.size() > kMaxHeaderBytes) failed_ = true;
      return std::nullopt;
    }
    const std::string_view head = input.substr(0, head_end);
    if (head.size() < 12 || head.substr(0, 9) != "HTTP/1.1 ") {
      failed_ = true;
      return std::nullopt;
    }
    Response response;
    for (std::size_t i = 9; i < 12; ++i) {
      if (head[i] < '0' || head[i] > '9') {
        failed_ = true;
        return std::nullopt;
      }
      response.http_code = response.http_code * 10 + (head[i] - '0');
    }
    std::size_t length = 0;
    std::size_t at = head.find("\r\n");
    while (at != std::string_view::npos) {
      const std::size_t line_end = head.find("\r\n", at + 2);
      const std::string_view line = head.substr(
          at + 2, line_end == std::string_view::npos ? std::string_view::npos : line_end - at - 2);
      if (iequals_prefix(line, "content-length:")) {
        length = 0;
        for (char c : trim(line.substr(15))) {
          if (c < '0' || c > '9') {
            failed_ = true;
            return std::nullopt;
          }
          length = length * 10 + static_cast<std::size_t>(c - '0');
        }
      } else if (iequals_prefix(line, "connection:")) {
        const std::string_view value = trim(line.substr(11));
        response.close = value.size() == 5 && iequals_prefix(value, "close");
      }
      at = line_end;
    }
    const std::size_t total = head_end + 4 + length;
    if (input.size() < total) return std::nullopt;
    begin_ += total;
    if (response.http_code / 100 == 1) continue;  // 100 Continue and friends: skip
    response.body = input.substr(head_end + 4, length);
    return response;
  }
}

std::string_view status_word(std::string_view json) {
  constexpr std::string_view kKey = "\"status\":\"";
  const std::size_t at = json.find(kKey);
  if (at == std::string_view::npos) return {};
  const std::size_t start = at + kKey.size();
  const std::size_t stop = json.find('"', start);
  if (stop == std::string_view::npos) return {};
  return json.substr(start, stop - start);
}

void AnswerCounts::merge(const AnswerCounts& other_counts) {
  for (std::size_t i = 0; i < by_status.size(); ++i) by_status[i] += other_counts.by_status[i];
  other += other_counts.other;
  if (accepted_by_candidate.size() < other_counts.accepted_by_candidate.size()) {
    accepted_by_candidate.resize(other_counts.accepted_by_candidate.size());
  }
  for (std::size_t i = 0; i < other_counts.accepted_by_candidate.size(); ++i) {
    accepted_by_candidate[i] += other_counts.accepted_by_candidate[i];
  }
}

std::uint64_t AnswerCounts::total() const {
  std::uint64_t sum = other;
  for (std::uint64_t n : by_status) sum += n;
  return sum;
}

void count_answer(const Response& response, std::span<const std::uint16_t> candidates,
                  AnswerCounts& counts) {
  auto count_one = [&](std::string_view json, std::size_t ballot, std::uint64_t times) {
    const auto status = engine::vote_status_from_string(status_word(json));
    if (!status) {
      counts.other += times;
      return;
    }
    counts.by_status[static_cast<std::size_t>(*status)] += times;
    if (*status == engine::VoteStatus::accepted && ballot < candidates.size()) {
      const std::uint16_t candidate = candidates[ballot];
      if (counts.accepted_by_candidate.size() <= candidate) {
        counts.accepted_by_candidate.resize(candidate + 1u);
      }
      counts.accepted_by_candidate[candidate] += times;
    }
  };
  // A batch answer is NDJSON with one line per ballot, in order; any other answer (a single
  // vote, or a batch refused as a whole) is one object.
  const bool per_line = candidates.size() > 1 && response.http_code == 200 &&
                        response.body.find('\n') != std::string_view::npos;
  if (!per_line) {
    const auto status = engine::vote_status_from_string(status_word(response.body));
    if (status == engine::VoteStatus::accepted) {
      count_one(response.body, 0, 1);
      return;
    }
    count_one(response.body, candidates.size(), std::max<std::size_t>(candidates.size(), 1));
    return;
  }
  std::string_view rest = response.body;
  std::size_t ballot = 0;
  while (!rest.empty()) {
    const std::size_t newline = rest.find('\n');
    const std::string_view line = rest.substr(0, newline);
    if (!line.empty()) count_one(line, ballot++, 1);
    if (newline == std::string_view::npos) break;
    rest.remove_prefix(newline + 1);
  }
  // Lines the server did not answer (it never should) count as other.
  if (ballot < candidates.size()) counts.other += candidates.size() - ballot;
}

}  // namespace tally::loadtest
