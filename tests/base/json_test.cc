// JSON string writing, UTF-8 validation, and the quoting of outside values in logs.
#include "tally/base/json.h"

#include <gtest/gtest.h>

#include <string>

#include "tally/base/quote_input.h"

namespace tally {
namespace {

std::string json_string(std::string_view text) {
  std::string out;
  append_json_string(out, text);
  return out;
}

TEST(AppendJsonString, QuotesPlainTextAsIs) {
  EXPECT_EQ(json_string(""), "\"\"");
  EXPECT_EQ(json_string("c01"), "\"c01\"");
  EXPECT_EQ(json_string("候选人01 能源"), "\"候选人01 能源\"");
  EXPECT_EQ(json_string("\xF0\x9F\x97\xB3"), "\"\xF0\x9F\x97\xB3\"");
  EXPECT_EQ(json_string("/<>'\x7F"), "\"/<>'\x7F\"");
}

TEST(AppendJsonString, EscapesQuotesBackslashesAndControlCharacters) {
  EXPECT_EQ(json_string("say \"hi\""), R"("say \"hi\"")");
  EXPECT_EQ(json_string("a\\b"), R"("a\\b")");
  EXPECT_EQ(json_string("\b\f\n\r\t"), R"("\b\f\n\r\t")");
  EXPECT_EQ(json_string(std::string_view("\0\x01\x1F", 3)), R"("\u0000\u0001\u001f")");
  EXPECT_EQ(json_string("x\ny\"z"), R"("x\ny\"z")");
}

TEST(AppendJsonString, AppendsToWhatIsThere) {
  std::string out = "{\"k\":";
  append_json_string(out, "v");
  out += '}';
  EXPECT_EQ(out, R"({"k":"v"})");
}

TEST(AppendJsonString, EscapesAtAnyOffsetOfALongRun) {
  // Plain runs are passed eight bytes at a time: an escaped byte must be found wherever it
  // falls relative to those steps, and bytes next to it (0x1F/0x20, '"'/'#', '\\'/']',
  // UTF-8 continuation bytes) judged alone.
  for (std::size_t offset = 0; offset <= 24; ++offset) {
    const std::string before(offset, 'a');
    const std::string after = "z !#]\xE4\xB8\xAD~\x7F" + std::string(offset % 9, 'y');
    EXPECT_EQ(json_string(before + "\"" + after), "\"" + before + "\\\"" + after + "\"") << offset;
    EXPECT_EQ(json_string(before + "\\" + after), "\"" + before + "\\\\" + after + "\"") << offset;
    EXPECT_EQ(json_string(before + "\x1F" + after), "\"" + before + "\\u001f" + after + "\"")
        << offset;
    EXPECT_EQ(json_string(before + "\n\n" + after), "\"" + before + "\\n\\n" + after + "\"")
        << offset;
    EXPECT_EQ(json_string(before + after), "\"" + before + after + "\"") << offset;
  }
}

TEST(IsValidUtf8, AcceptsWellFormedText) {
  EXPECT_TRUE(is_valid_utf8(""));
  EXPECT_TRUE(is_valid_utf8("plain ASCII"));
  EXPECT_TRUE(is_valid_utf8(std::string_view("\0", 1)));
  EXPECT_TRUE(is_valid_utf8("鄂尔多斯 最美产业工人"));
  EXPECT_TRUE(is_valid_utf8("\xC2\x80"));          // U+0080, smallest two-byte
  EXPECT_TRUE(is_valid_utf8("\xDF\xBF"));          // U+07FF
  EXPECT_TRUE(is_valid_utf8("\xE0\xA0\x80"));      // U+0800, smallest three-byte
  EXPECT_TRUE(is_valid_utf8("\xED\x9F\xBF"));      // U+D7FF, just below the surrogates
  EXPECT_TRUE(is_valid_utf8("\xEE\x80\x80"));      // U+E000, just above them
  EXPECT_TRUE(is_valid_utf8("\xEF\xBF\xBF"));      // U+FFFF
  EXPECT_TRUE(is_valid_utf8("\xF0\x90\x80\x80"));  // U+10000, smallest four-byte
  EXPECT_TRUE(is_valid_utf8("\xF4\x8F\xBF\xBF"));  // U+10FFFF, the largest code point
}

TEST(IsValidUtf8, FindsABadSequenceAtAnyOffsetOfALongAsciiRun) {
  // Long ASCII runs are skipped eight bytes at a time: a bad or a good multi-byte sequence
  // must be judged the same wherever it falls relative to those eight-byte steps.
  for (std::size_t offset = 0; offset <= 24; ++offset) {
    const std::string before(offset, 'a');
    const std::string after(17, 'z');
    EXPECT_FALSE(is_valid_utf8(before + "\xC0\x80" + after)) << offset;
    EXPECT_FALSE(is_valid_utf8(before + "\xFF" + after)) << offset;
    EXPECT_FALSE(is_valid_utf8(before + "\xE4\xB8")) << offset;  // cut short at the end
    EXPECT_TRUE(is_valid_utf8(before + "\xE4\xB8\xAD" + after)) << offset;
    EXPECT_TRUE(is_valid_utf8(before + after)) << offset;
  }
}

TEST(IsValidUtf8, RejectsOverlongEncodings) {
  EXPECT_FALSE(is_valid_utf8("\xC0\x80"));
  EXPECT_FALSE(is_valid_utf8("\xC1\xBF"));
  EXPECT_FALSE(is_valid_utf8("\xE0\x80\x80"));
  EXPECT_FALSE(is_valid_utf8("\xE0\x9F\xBF"));
  EXPECT_FALSE(is_valid_utf8("\xF0\x80\x80\x80"));
  EXPECT_FALSE(is_valid_utf8("\xF0\x8F\xBF\xBF"));
}

TEST(IsValidUtf8, RejectsSurrogatesAndCodePointsAboveTheLimit) {
  EXPECT_FALSE(is_valid_utf8("\xED\xA0\x80"));      // U+D800
  EXPECT_FALSE(is_valid_utf8("\xED\xBF\xBF"));      // U+DFFF
  EXPECT_FALSE(is_valid_utf8("\xF4\x90\x80\x80"));  // U+110000
  EXPECT_FALSE(is_valid_utf8("\xF5\x80\x80\x80"));
  EXPECT_FALSE(is_valid_utf8("\xFF"));
  EXPECT_FALSE(is_valid_utf8("\xFE"));
}

TEST(IsValidUtf8, RejectsTruncatedAndStraySequences) {
  EXPECT_FALSE(is_valid_utf8("\x80"));
  EXPECT_FALSE(is_valid_utf8("a\xBF"));
  EXPECT_FALSE(is_valid_utf8("\xC2"));
  EXPECT_FALSE(is_valid_utf8("\xE4\xB8"));
  EXPECT_FALSE(is_valid_utf8("\xF0\x9F\x97"));
  EXPECT_FALSE(is_valid_utf8("\xE4\xB8z"));
  EXPECT_FALSE(is_valid_utf8("\xC2\xC2\x80"));
  EXPECT_FALSE(is_valid_utf8("ok\xE4\xB8\xAD\xE6"));
}

TEST(LogValue, QuotesPlainTextAsIs) {
  EXPECT_EQ(log_value("ordos-2023"), "\"ordos-2023\"");
  EXPECT_EQ(log_value("最美产业工人"), "\"最美产业工人\"");
  EXPECT_EQ(log_value(""), "\"\"");
}

TEST(LogValue, EscapesWhatCouldEndTheLineOrTheField) {
  EXPECT_EQ(log_value("a\nb\r\"c\" d\\e"), R"("a\nb\r\"c\" d\\e")");
  EXPECT_EQ(log_value(std::string_view("\x1b[31m\0x", 7)), R"("\u001b[31m\u0000x")");
}

TEST(LogValue, ShowsStrayBytesAsHex) { EXPECT_EQ(log_value("a\xFF"), R"("a\\xff")"); }

TEST(LogValue, KeepsLongValuesUpToItsLimitAtACharacterBoundary) {
  const std::string long_text(kMaxLoggedBytes - 1, 'x');
  EXPECT_EQ(log_value(long_text), "\"" + long_text + "\"");
  // 1023 bytes of x, then a 3-byte character that no longer fits.
  const std::string quoted = log_value(long_text + "中" + "tail");
  EXPECT_EQ(quoted, "\"" + long_text + "...\"");
  EXPECT_GT(kMaxLoggedBytes, kMaxQuotedBytes);  // a path or an error is kept whole
}

TEST(LogValue, NeverLeavesALineBreakWhateverTheBytes) {
  std::string every_byte;
  for (int c = 0; c < 256; ++c) every_byte.push_back(static_cast<char>(c));
  const std::string quoted = log_value(every_byte);
  EXPECT_EQ(quoted.find('\n'), std::string::npos);
  EXPECT_EQ(quoted.find('\r'), std::string::npos);
  // The only unescaped quotes are the two that delimit the value.
  for (std::size_t i = 1; i + 1 < quoted.size(); ++i) {
    if (quoted[i] == '"') {
      EXPECT_EQ(quoted[i - 1], '\\') << "at " << i;
    }
  }
}

}  // namespace
}  // namespace tally
