// The tokens file's digests: what a digest entry is, which tokens it lets in, which files are
// refused and why, and how a tokens file is replaced on disk.
#include "tally/ingest/tokens.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <string>

#include "file_modes.h"
#include "log_world.h"
#include "tallyd_process.h"

namespace tally::ingest {
namespace {

using testing::mode_of;
using testing::read_text;
using testing::TempDir;
using testing::write_text;

TEST(TokenDigest, IsTheSha256OfTheTokenInLowercaseHex) {
  // FIPS 180-2, appendix B.1: SHA-256("abc").
  EXPECT_EQ(token_digest("abc"),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(TokenDigest, DigestEntriesLetTheirTokensInAndNothingElse) {
  TokenSet set;
  set.ingest.push_back(token_digest("ingest-token-000001"));
  set.admin.push_back(token_digest("admin-token-0000001"));
  set.read.push_back(token_digest("read-token-00000001"));
  auto parsed = parse_tokens(tokens_to_json(set));
  ASSERT_TRUE(parsed.ok()) << parsed.message();
  EXPECT_EQ(plaintext_count(*parsed), 0u);
  Tokens tokens(*parsed);
  EXPECT_EQ(tokens.check("Bearer ingest-token-000001"), TokenKind::ingest);
  EXPECT_EQ(tokens.check("Bearer admin-token-0000001"), TokenKind::admin);
  EXPECT_EQ(tokens.check("Bearer read-token-00000001"), TokenKind::read);
  EXPECT_EQ(tokens.check("Bearer ingest-token-000002"), TokenKind::wrong);
  // Whoever reads the file learns the digest, which must not work as a token.
  EXPECT_EQ(tokens.check("Bearer " + set.ingest.front()), TokenKind::wrong);
}

TEST(TokenDigest, UppercaseHexIsTheSameDigest) {
  std::string entry = token_digest("ingest-token-000001");
  for (char& c : entry) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  entry.replace(0, kDigestPrefix.size(), kDigestPrefix);
  auto parsed = parse_tokens(R"({"ingest":[")" + entry + R"("]})");
  ASSERT_TRUE(parsed.ok()) << parsed.message();
  EXPECT_EQ(Tokens(*parsed).check("Bearer ingest-token-000001"), TokenKind::ingest);
}

TEST(TokenDigest, PlaintextAndDigestEntriesWorkSideBySide) {
  auto parsed = parse_tokens(R"({"ingest":["ingest-token-000001",")" +
                             token_digest("ingest-token-000002") + R"("],"admin":[]})");
  ASSERT_TRUE(parsed.ok()) << parsed.message();
  EXPECT_EQ(plaintext_count(*parsed), 1u);
  Tokens tokens(*parsed);
  EXPECT_EQ(tokens.check("Bearer ingest-token-000001"), TokenKind::ingest);
  EXPECT_EQ(tokens.check("Bearer ingest-token-000002"), TokenKind::ingest);
}

TEST(TokenDigest, MalformedDigestsRefuseTheFileNamingTheEntry) {
  const std::string good = token_digest("ingest-token-000001");
  const auto refusal = [&](const std::string& admin_entry) {
    auto parsed =
        parse_tokens(R"({"ingest":[")" + good + R"("],"admin":[")" + admin_entry + R"("]})");
    return parsed.ok() ? std::string("accepted") : parsed.message();
  };
  EXPECT_EQ(refusal(good.substr(0, good.size() - 1)),
            "admin[0]: a sha256: digest must have 64 hex digits, got 63 characters");
  EXPECT_EQ(refusal(good + "0"),
            "admin[0]: a sha256: digest must have 64 hex digits, got 65 characters");
  EXPECT_EQ(refusal("sha256:" + std::string(63, '0') + "g"),
            "admin[0]: a sha256: digest must have 64 hex digits, got a 'g'");
  EXPECT_EQ(refusal("sha256:"),
            "admin[0]: a sha256: digest must have 64 hex digits, got 0 "
            "characters");
  EXPECT_EQ(refusal("admin-token-0000001"), "accepted");
}

TEST(TokenDigest, TokensToHashFollowTheFilesRules) {
  EXPECT_TRUE(check_token("ingest-token-000001").ok());
  EXPECT_EQ(check_token("short").message(), "a token must have 16..256 characters, got 5");
  EXPECT_EQ(check_token("ingest token 000001").message(),
            "a token must be printable ASCII without spaces");
  EXPECT_EQ(check_token(token_digest("x")).message(), "a token must not start with \"sha256:\"");
}

TEST(TokenDigest, GeneratedTokensAreDistinctAndOfTheirKind) {
  auto first = generate_token("read");
  auto second = generate_token("read");
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_NE(*first, *second);
  EXPECT_TRUE(first->starts_with("read-"));
  EXPECT_EQ(first->size(), std::string("read-").size() + 2 * kGeneratedTokenBytes);
  EXPECT_TRUE(check_token(*first).ok());
}

TEST(TokenDigest, ReloadReplacesTheDigestsInForce) {
  TokenSet first;
  first.ingest.push_back(token_digest("ingest-token-000001"));
  Tokens tokens(first);
  TokenSet second;
  second.ingest.push_back(token_digest("ingest-token-000002"));
  tokens.reload(second);
  EXPECT_EQ(tokens.check("Bearer ingest-token-000001"), TokenKind::wrong);
  EXPECT_EQ(tokens.check("Bearer ingest-token-000002"), TokenKind::ingest);
}

TEST(TokenMemo, AnswersLikeTheCheckAsHeadersChange) {
  TokenSet set;
  set.ingest.push_back(token_digest("ingest-token-000001"));
  set.read.push_back(token_digest("read-token-00000001"));
  const Tokens tokens(set);
  TokenMemo memo;
  for (int round = 0; round < 2; ++round) {
    EXPECT_EQ(tokens.check("Bearer ingest-token-000001", memo), TokenKind::ingest);
    EXPECT_EQ(tokens.check("Bearer ingest-token-000001", memo), TokenKind::ingest);
    EXPECT_EQ(tokens.check("Bearer ingest-token-000002", memo), TokenKind::wrong);
    EXPECT_EQ(tokens.check("Bearer read-token-00000001", memo), TokenKind::read);
    EXPECT_EQ(tokens.check("", memo), TokenKind::none);
    EXPECT_EQ(tokens.check("Bearer " + std::string(600, 'x'), memo), TokenKind::wrong);
  }
}

TEST(TokenMemo, ReloadMakesItStaleSoARevokedTokenIsRefused) {
  TokenSet first;
  first.ingest.push_back(token_digest("ingest-token-000001"));
  Tokens tokens(first);
  TokenMemo memo;
  ASSERT_EQ(tokens.check("Bearer ingest-token-000001", memo), TokenKind::ingest);
  TokenSet revoked;
  revoked.ingest.push_back(token_digest("ingest-token-000002"));
  tokens.reload(revoked);
  EXPECT_EQ(tokens.check("Bearer ingest-token-000001", memo), TokenKind::wrong);
  tokens.reload(first);
  EXPECT_EQ(tokens.check("Bearer ingest-token-000001", memo), TokenKind::ingest);
}

TEST(ReplaceFile, CreatesTheFileForItsOwnerAlone) {
  TempDir dir;
  const std::string path = dir.sub("tokens.json");
  ASSERT_TRUE(replace_file(path, "{}\n").ok());
  EXPECT_EQ(read_text(path), "{}\n");
  EXPECT_EQ(mode_of(path), 0600u);
}

TEST(ReplaceFile, KeepsTheGroupsReadAccessAndDropsOtherUsers) {
  TempDir dir;
  const std::string path = dir.sub("tokens.json");
  write_text(path, "old");
  ::chmod(path.c_str(), 0644);
  ASSERT_TRUE(replace_file(path, "new").ok());
  EXPECT_EQ(read_text(path), "new");
  EXPECT_EQ(mode_of(path), 0640u) << "tallyd's group read the old file; others must not";
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    EXPECT_EQ(entry.path().filename(), "tokens.json") << "a temporary file was left behind";
  }
}

TEST(ReplaceFile, FailsNamingTheFileWhenItsDirectoryIsMissing) {
  TempDir dir;
  const std::string path = dir.sub("absent/tokens.json");
  const Status status = replace_file(path, "{}");
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.message().rfind(path + ": ", 0), 0u) << status.message();
}

}  // namespace
}  // namespace tally::ingest
