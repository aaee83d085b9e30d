// RFC 3339 parsing and formatting, UTC offsets, day periods and the server clock.
#include "tally/base/time.h"

#include <gtest/gtest.h>

#include <limits>
#include <string>

#include "tally/base/clock.h"

namespace tally {
namespace {

constexpr std::int32_t kPlus8 = 8 * 3600;

std::int64_t ms_of(std::string_view text) {
  auto ms = parse_rfc3339_ms(text);
  EXPECT_TRUE(ms.ok()) << text << ": " << (ms.ok() ? "" : ms.message());
  return ms.ok() ? *ms : 0;
}

std::string error_of(std::string_view text) {
  auto ms = parse_rfc3339_ms(text);
  EXPECT_FALSE(ms.ok()) << text << " parsed as " << (ms.ok() ? *ms : 0);
  return ms.ok() ? std::string() : ms.message();
}

TEST(ParseRfc3339, ReadsUtcAndOffsetTimes) {
  EXPECT_EQ(ms_of("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(ms_of("2023-03-27T00:00:00Z"), 1'679'875'200'000);
  EXPECT_EQ(ms_of("2023-03-27T00:00:00+08:00"), 1'679'875'200'000 - 8 * 3'600'000);
  EXPECT_EQ(ms_of("2023-03-27T00:00:00-05:30"), 1'679'875'200'000 + 5 * 3'600'000 + 30 * 60'000);
  EXPECT_EQ(ms_of("2023-03-27T00:00:00-00:00"), 1'679'875'200'000);
  EXPECT_EQ(ms_of("2023-03-27t00:00:00z"), 1'679'875'200'000);
}

TEST(ParseRfc3339, SameInstantAtDifferentOffsetsIsEqual) {
  EXPECT_EQ(ms_of("2023-03-27T16:00:00Z"), ms_of("2023-03-28T00:00:00+08:00"));
  EXPECT_EQ(ms_of("2023-03-27T11:00:00-05:00"), ms_of("2023-03-28T00:00:00+08:00"));
}

TEST(ParseRfc3339, ReadsFractionsAsMillisecondsTruncatingTheRest) {
  EXPECT_EQ(ms_of("1970-01-01T00:00:00.5Z"), 500);
  EXPECT_EQ(ms_of("1970-01-01T00:00:00.25Z"), 250);
  EXPECT_EQ(ms_of("1970-01-01T00:00:00.123Z"), 123);
  EXPECT_EQ(ms_of("1970-01-01T00:00:00.123999999Z"), 123);
  EXPECT_EQ(ms_of("1970-01-01T00:00:00.000Z"), 0);
}

TEST(ParseRfc3339, ReadsTimesBeforeTheEpoch) {
  EXPECT_EQ(ms_of("1969-12-31T23:59:59.999Z"), -1);
  EXPECT_EQ(ms_of("1969-12-31T00:00:00Z"), -86'400'000);
  EXPECT_EQ(ms_of("0000-01-01T00:00:00Z"), -62'167'219'200'000);
}

TEST(ParseRfc3339, KnowsLeapYears) {
  EXPECT_EQ(ms_of("2024-02-29T00:00:00Z") + 86'400'000, ms_of("2024-03-01T00:00:00Z"));
  EXPECT_EQ(ms_of("2000-02-29T00:00:00Z") + 86'400'000, ms_of("2000-03-01T00:00:00Z"));
  EXPECT_EQ(error_of("2023-02-29T00:00:00Z"),
            "day of 2023-02 must be 01..28, got 29 in \"2023-02-29T00:00:00Z\"");
  EXPECT_EQ(error_of("1900-02-29T00:00:00Z"),
            "day of 1900-02 must be 01..28, got 29 in \"1900-02-29T00:00:00Z\"");
  EXPECT_EQ(error_of("2024-02-30T00:00:00Z"),
            "day of 2024-02 must be 01..29, got 30 in \"2024-02-30T00:00:00Z\"");
}

TEST(ParseRfc3339, KnowsDaysPerMonth) {
  EXPECT_EQ(error_of("2023-04-31T00:00:00Z"),
            "day of 2023-04 must be 01..30, got 31 in \"2023-04-31T00:00:00Z\"");
  EXPECT_EQ(ms_of("2023-12-31T23:59:59.999Z") + 1, ms_of("2024-01-01T00:00:00Z"));
  EXPECT_EQ(error_of("2023-01-00T00:00:00Z"),
            "day of 2023-01 must be 01..31, got 0 in \"2023-01-00T00:00:00Z\"");
}

TEST(ParseRfc3339, RejectsFieldsOutOfRange) {
  EXPECT_EQ(error_of("2023-13-01T00:00:00Z"),
            "month must be 01..12, got 13 in \"2023-13-01T00:00:00Z\"");
  EXPECT_EQ(error_of("2023-00-01T00:00:00Z"),
            "month must be 01..12, got 0 in \"2023-00-01T00:00:00Z\"");
  EXPECT_EQ(error_of("2023-03-27T24:00:00Z"),
            "hour must be 00..23, got 24 in \"2023-03-27T24:00:00Z\"");
  EXPECT_EQ(error_of("2023-03-27T00:60:00Z"),
            "minute must be 00..59, got 60 in \"2023-03-27T00:60:00Z\"");
  EXPECT_EQ(error_of("2023-03-27T23:59:60Z"),
            "second must be 00..59 (no leap seconds), got 60 in \"2023-03-27T23:59:60Z\"");
  EXPECT_EQ(error_of("2023-03-27T00:00:00+24:00"),
            "offset hour must be 00..23, got 24 in \"2023-03-27T00:00:00+24:00\"");
  EXPECT_EQ(error_of("2023-03-27T00:00:00+08:60"),
            "offset minute must be 00..59, got 60 in \"2023-03-27T00:00:00+08:60\"");
}

TEST(ParseRfc3339, RejectsOtherShapes) {
  const std::string expected = "expected YYYY-MM-DDTHH:MM:SS[.fraction](Z|\u00B1HH:MM), got ";
  EXPECT_EQ(error_of(""), expected + "\"\"");
  EXPECT_EQ(error_of("2023-03-27"), expected + "\"2023-03-27\"");
  for (const char* text : {
           "2023-03-27T00:00:00",         // no zone
           "2023-03-27 00:00:00Z",        // space instead of T
           "2023-3-27T00:00:00Z",         // one-digit month
           "23-03-27T00:00:00Z",          // two-digit year
           "2023-03-27T00:00Z",           // no seconds
           "2023-03-27T00:00:00.Z",       // empty fraction
           "2023-03-27T00:00:00,5Z",      // comma fraction
           "2023-03-27T00:00:00+08",      // offset without minutes
           "2023-03-27T00:00:00+0800",    // offset without colon
           "2023-03-27T00:00:00+8:00",    // one-digit offset hour
           "2023-03-27T00:00:00Zjunk",    // trailing bytes
           "2023-03-27T00:00:00+08:00 ",  // trailing space
           " 2023-03-27T00:00:00Z",       // leading space
           "+2023-03-27T00:00:00Z",       // signed year
           "2023-03-27T00:00:00UTC",      // zone name
       }) {
    EXPECT_EQ(error_of(text), expected + "\"" + text + "\"") << text;
  }
}

TEST(ParseRfc3339, QuotesLongOrBinaryInputSafely) {
  const std::string long_text(100, '9');
  EXPECT_EQ(error_of(long_text), "longer than 64 bytes: \"" + std::string(80, '9') + "...\"");
  EXPECT_EQ(error_of(std::string("2023\x01\xff")),
            "expected YYYY-MM-DDTHH:MM:SS[.fraction](Z|\u00B1HH:MM), got \"2023\\u0001\\\\xff\"");
}

TEST(ParseUtcOffset, ReadsOffsetsWithinFourteenHours) {
  auto offset = [](std::string_view text) {
    auto result = parse_utc_offset(text);
    EXPECT_TRUE(result.ok()) << text;
    return result.ok() ? *result : -1;
  };
  EXPECT_EQ(offset("+08:00"), kPlus8);
  EXPECT_EQ(offset("-05:30"), -(5 * 3600 + 30 * 60));
  EXPECT_EQ(offset("+00:00"), 0);
  EXPECT_EQ(offset("-00:00"), 0);
  EXPECT_EQ(offset("Z"), 0);
  EXPECT_EQ(offset("+14:00"), 14 * 3600);
  EXPECT_EQ(offset("-14:00"), -14 * 3600);
  EXPECT_EQ(offset("+05:45"), 5 * 3600 + 45 * 60);
}

TEST(ParseUtcOffset, NamesTheExpectedShape) {
  auto error = [](std::string_view text) {
    auto result = parse_utc_offset(text);
    EXPECT_FALSE(result.ok()) << text;
    return result.ok() ? std::string() : result.message();
  };
  EXPECT_EQ(error("+8"), "expected \u00B1HH:MM or Z, got \"+8\"");
  EXPECT_EQ(error("08:00"), "expected \u00B1HH:MM or Z, got \"08:00\"");
  EXPECT_EQ(error("+0800"), "expected \u00B1HH:MM or Z, got \"+0800\"");
  EXPECT_EQ(error(""), "expected \u00B1HH:MM or Z, got \"\"");
  EXPECT_EQ(error("UTC"), "expected \u00B1HH:MM or Z, got \"UTC\"");
  EXPECT_EQ(error("+08:00:00"), "expected \u00B1HH:MM or Z, got \"+08:00:00\"");
  EXPECT_EQ(error("+08:60"), "minutes must be 00..59, got \"+08:60\"");
  EXPECT_EQ(error("+14:01"), "must be within \u00B114:00, got \"+14:01\"");
  EXPECT_EQ(error("-15:00"), "must be within \u00B114:00, got \"-15:00\"");
}

TEST(FormatRfc3339, WritesTheOffsetAndDropsZeroMilliseconds) {
  EXPECT_EQ(format_rfc3339(0, 0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(format_rfc3339(1, 0), "1970-01-01T00:00:00.001Z");
  EXPECT_EQ(format_rfc3339(-1, 0), "1969-12-31T23:59:59.999Z");
  EXPECT_EQ(format_rfc3339(ms_of("2023-03-27T00:00:00+08:00"), kPlus8),
            "2023-03-27T00:00:00+08:00");
  EXPECT_EQ(format_rfc3339(ms_of("2023-03-27T00:00:00+08:00"), 0), "2023-03-26T16:00:00Z");
  EXPECT_EQ(format_rfc3339(ms_of("2023-03-01T02:00:00Z"), -(5 * 3600 + 30 * 60)),
            "2023-02-28T20:30:00-05:30");
  EXPECT_EQ(format_rfc3339(ms_of("2024-03-01T02:00:00Z"), -3 * 3600), "2024-02-29T23:00:00-03:00");
}

TEST(FormatRfc3339, RoundTripsThroughParse) {
  // From 0000-01-02 to 9999-12-30 UTC: inside the formattable years at every offset.
  for (std::int64_t ms : {std::int64_t{0}, std::int64_t{-1}, std::int64_t{1'679'846'400'000},
                          std::int64_t{1'679'846'399'999}, std::int64_t{951'782'400'123},
                          std::int64_t{-62'167'132'800'000}, std::int64_t{253'402'214'399'999}}) {
    for (std::int32_t offset_s : {0, kPlus8, -(5 * 3600 + 30 * 60), 14 * 3600, -14 * 3600}) {
      EXPECT_EQ(ms_of(format_rfc3339(ms, offset_s)), ms) << ms << " at " << offset_s;
    }
  }
}

TEST(FormatRfc3339, ClampsTimesOutsideYearsZeroToNineThousandNineHundredNinetyNine) {
  EXPECT_EQ(format_rfc3339(std::numeric_limits<std::int64_t>::max(), kPlus8),
            "9999-12-31T23:59:59.999+08:00");
  EXPECT_EQ(format_rfc3339(std::numeric_limits<std::int64_t>::min(), 0), "0000-01-01T00:00:00Z");
}

TEST(FormatUtcOffset, WritesSignHoursAndMinutes) {
  EXPECT_EQ(format_utc_offset(0), "+00:00");
  EXPECT_EQ(format_utc_offset(kPlus8), "+08:00");
  EXPECT_EQ(format_utc_offset(-(5 * 3600 + 30 * 60)), "-05:30");
  EXPECT_EQ(format_utc_offset(-14 * 3600), "-14:00");
  for (const char* text : {"+08:00", "-05:30", "+14:00", "-14:00", "+00:00"}) {
    EXPECT_EQ(format_utc_offset(*parse_utc_offset(text)), text);
  }
}

TEST(LocalDay, ChangesAtLocalMidnight) {
  const std::int64_t last_ms_of_27th = ms_of("2023-03-27T23:59:59.999+08:00");
  const std::int64_t first_ms_of_28th = ms_of("2023-03-28T00:00:00+08:00");
  EXPECT_EQ(local_day(last_ms_of_27th, kPlus8) + 1, local_day(first_ms_of_28th, kPlus8));
  EXPECT_EQ(local_day(ms_of("2023-03-27T16:00:00Z"), kPlus8), local_day(first_ms_of_28th, kPlus8));
  EXPECT_EQ(local_day(ms_of("2023-03-27T15:59:59.999Z"), kPlus8),
            local_day(last_ms_of_27th, kPlus8));
  // The 28th at +08:00 is day 19444 since 1970-01-01.
  EXPECT_EQ(local_day(first_ms_of_28th, kPlus8), 19'444);
  // In UTC both instants still fall on the 27th.
  EXPECT_EQ(local_day(last_ms_of_27th, 0), local_day(first_ms_of_28th, 0));
}

TEST(LocalDay, HandlesNegativeOffsetsAndTimesBeforeTheEpoch) {
  const std::int32_t minus5 = -5 * 3600;
  EXPECT_EQ(local_day(ms_of("2023-03-27T23:59:59.999-05:00"), minus5) + 1,
            local_day(ms_of("2023-03-28T00:00:00-05:00"), minus5));
  EXPECT_EQ(local_day(ms_of("2023-03-28T04:59:59.999Z"), minus5),
            local_day(ms_of("2023-03-27T12:00:00-05:00"), minus5));
  EXPECT_EQ(local_day(0, 0), 0);
  EXPECT_EQ(local_day(-1, 0), -1);
  EXPECT_EQ(local_day(-kMsPerDay, 0), -1);
  EXPECT_EQ(local_day(-kMsPerDay - 1, 0), -2);
  EXPECT_EQ(local_day(0, minus5), -1);
  EXPECT_EQ(local_day(0, kPlus8), 0);
}

TEST(SystemClock, AppliesItsOffsetAndNeverStepsBack) {
  const SystemClock clock;
  const SystemClock shifted(10 * kMsPerDay);
  const std::int64_t before = clock.now_ms();
  const std::int64_t shifted_now = shifted.now_ms();
  EXPECT_GE(shifted_now - before, 10 * kMsPerDay);
  EXPECT_LT(shifted_now - before, 11 * kMsPerDay);
  std::int64_t last = clock.now_ms();
  for (int i = 0; i < 1000; ++i) {
    const std::int64_t now = clock.now_ms();
    EXPECT_GE(now, last);
    last = now;
  }
}

TEST(ManualClock, MovesOnlyWhenTold) {
  ManualClock clock(1000);
  EXPECT_EQ(clock.now_ms(), 1000);
  clock.advance_ms(500);
  EXPECT_EQ(clock.now_ms(), 1500);
  clock.set_ms(10);
  EXPECT_EQ(clock.now_ms(), 10);
}

}  // namespace
}  // namespace tally
