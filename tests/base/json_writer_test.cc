// JsonWriter: commas, nesting, escaping, integers and raw values.
#include "tally/base/json_writer.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>

namespace tally {
namespace {

TEST(JsonWriter, WritesAFlatObjectWithCommasBetweenMembers) {
  std::string out;
  JsonWriter json(out);
  json.begin_object();
  json.key("campaign").string("ordos");
  json.key("total").integer(42);
  json.key("open").boolean(true);
  json.key("closed").boolean(false);
  json.key("title").null();
  json.end_object();
  EXPECT_EQ(out, R"({"campaign":"ordos","total":42,"open":true,"closed":false,"title":null})");
}

TEST(JsonWriter, NestsObjectsAndArrays) {
  std::string out;
  JsonWriter json(out);
  json.begin_object().key("candidates").begin_array();
  for (int i = 1; i <= 3; ++i) {
    json.begin_object().key("id").integer(i).key("tags").begin_array();
    for (int t = 0; t < i; ++t) json.string("t");
    json.end_array().end_object();
  }
  json.end_array();
  json.key("rules").begin_object().key("period").string("day").end_object();
  json.key("after").integer(0);
  json.end_object();
  EXPECT_EQ(out, R"({"candidates":[{"id":1,"tags":["t"]},{"id":2,"tags":["t","t"]},)"
                 R"({"id":3,"tags":["t","t","t"]}],"rules":{"period":"day"},"after":0})");
}

TEST(JsonWriter, WritesEmptyContainers) {
  std::string out;
  JsonWriter json(out);
  json.begin_object();
  json.key("a").begin_array().end_array();
  json.key("o").begin_object().end_object();
  json.key("n").begin_array().begin_array().end_array().begin_object().end_object().end_array();
  json.end_object();
  EXPECT_EQ(out, R"({"a":[],"o":{},"n":[[],{}]})");

  std::string empty;
  JsonWriter(empty).begin_object().end_object();
  EXPECT_EQ(empty, "{}");
}

TEST(JsonWriter, EscapesStringsAndKeys) {
  std::string out;
  JsonWriter json(out);
  json.begin_object();
  json.key("say \"hi\"").string("a\\b\n\t\x01");
  json.key("名").string("候选人01");
  json.end_object();
  EXPECT_EQ(out, R"({"say \"hi\"":"a\\b\n\t\u0001","名":"候选人01"})");
}

TEST(JsonWriter, WritesIntegersOfEveryWidth) {
  std::string out;
  JsonWriter json(out);
  json.begin_array();
  json.integer(0).integer(-1).integer(7u);
  json.integer(std::numeric_limits<std::int64_t>::min());
  json.integer(std::numeric_limits<std::int64_t>::max());
  json.integer(std::numeric_limits<std::uint64_t>::max());
  json.integer(std::numeric_limits<std::int8_t>::min());
  json.integer(std::uint8_t{255});
  json.integer(std::numeric_limits<std::int32_t>::min());
  json.end_array();
  EXPECT_EQ(out,
            "[0,-1,7,-9223372036854775808,9223372036854775807,18446744073709551615,-128,255,"
            "-2147483648]");
}

TEST(JsonWriter, WritesRawValuesAsGiven) {
  std::string out;
  JsonWriter json(out);
  json.begin_object();
  json.key("campaign").raw(R"({"id":"c","candidates":[]})");
  json.key("share").raw("0.2500");
  json.end_object();
  json.begin_array().raw("1").raw(R"("two")").raw("[3]").end_array();
  EXPECT_EQ(out, R"({"campaign":{"id":"c","candidates":[]},"share":0.2500})"
                 R"([1,"two",[3]])");
}

TEST(JsonWriter, AppendsToWhatTheBufferHolds) {
  std::string out = "prefix ";
  out.reserve(256);
  const char* const data = out.data();
  JsonWriter json(out);
  json.begin_object().key("k").string("v").end_object();
  EXPECT_EQ(out, R"(prefix {"k":"v"})");
  EXPECT_EQ(json.text(), out);
  EXPECT_EQ(out.data(), data);  // the reserved buffer is kept, not replaced
}

TEST(JsonWriter, PutsNoCommaBetweenTopLevelDocuments) {
  std::string out;
  JsonWriter json(out);
  for (int seq = 1; seq <= 2; ++seq) {
    json.begin_object().key("seq").integer(seq).end_object();
    out.push_back('\n');
  }
  EXPECT_EQ(out, "{\"seq\":1}\n{\"seq\":2}\n");
}

TEST(JsonWriter, KeepsEachLevelsCommasApartAtFullDepth) {
  std::string out;
  JsonWriter json(out);
  for (int depth = 0; depth < JsonWriter::kMaxDepth; ++depth) {
    json.begin_array().integer(depth);
  }
  for (int depth = 0; depth < JsonWriter::kMaxDepth; ++depth) {
    json.end_array();
    if (depth + 1 < JsonWriter::kMaxDepth) json.integer(-depth);
  }
  std::string expected;
  for (int depth = 0; depth < JsonWriter::kMaxDepth; ++depth) {
    expected += "[" + std::to_string(depth) + ",";
  }
  expected.pop_back();
  for (int depth = 0; depth < JsonWriter::kMaxDepth; ++depth) {
    expected += "]";
    expected += depth + 1 < JsonWriter::kMaxDepth ? "," + std::to_string(-depth) : "";
  }
  EXPECT_EQ(out, expected);
}

}  // namespace
}  // namespace tally
