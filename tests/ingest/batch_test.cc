// Unit tests of for_each_batch_line: how a POST /v1/votes:batch body becomes its ballots.
#include "tally/ingest/batch.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

namespace tally::ingest {
namespace {

struct Split {
  std::vector<std::string> lines;
  std::vector<std::uint32_t> numbers;
  bool complete = false;
};

Split split(std::string_view body, std::size_t stop_after = 100) {
  Split out;
  out.complete = for_each_batch_line(body, [&](const BatchLine& line) {
    if (out.lines.size() >= stop_after) return false;
    out.lines.emplace_back(body.substr(line.begin, line.size));
    out.numbers.push_back(line.number);
    return true;
  });
  return out;
}

TEST(BatchLines, NonEmptyLinesAreTrimmedAndNumberedAmongAllLines) {
  const Split s = split("{\"a\":1}\n\n  \t\n \t{\"b\":2} \r\n{\"c\":3}");
  EXPECT_TRUE(s.complete);
  EXPECT_EQ(s.lines, (std::vector<std::string>{"{\"a\":1}", "{\"b\":2}", "{\"c\":3}"}));
  EXPECT_EQ(s.numbers, (std::vector<std::uint32_t>{1, 4, 5}));
}

TEST(BatchLines, EmptyAndBlankBodiesHaveNoLines) {
  EXPECT_TRUE(split("").lines.empty());
  EXPECT_TRUE(split("\n\r\n \t\n").lines.empty());
}

TEST(BatchLines, StopsWhenTheCallerSaysSo) {
  const Split s = split("1\n2\n3\n", 2);
  EXPECT_FALSE(s.complete);
  EXPECT_EQ(s.lines, (std::vector<std::string>{"1", "2"}));
}

TEST(BatchLines, CarriageReturnInsideALineStays) {
  const Split s = split("a\rb\r\r\n");
  EXPECT_EQ(s.lines, (std::vector<std::string>{"a\rb"}));
}

}  // namespace
}  // namespace tally::ingest
