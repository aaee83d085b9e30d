// Tokens on disk against the real tallyd and tallyctl: the tokens file holds digests, generated
// tokens are shown once in tokens.generated, `tallyctl token new` plus SIGHUP adds a token,
// removing its digest plus SIGHUP revokes it, plaintext files still work and warn, and a
// malformed digest refuses the file at start and at SIGHUP.
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "file_modes.h"
#include "log_world.h"
#include "tallyd_process.h"

namespace tally::testing {
namespace {

constexpr const char* kDemo = "ordos-2023-zuimei";

std::string ballot(const std::string& candidate, const std::string& voter) {
  return std::string(R"({"campaign":")") + kDemo + R"(","candidate":")" + candidate +
         R"(","voter":")" + voter + "\"}";
}

// SHA-256 as sha256sum prints it, computed here rather than by tally's own code.
std::string sha256_hex(const std::string& text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(text.data(), text.size(), digest, &length, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned int i = 0; i < length; ++i) {
    hex += kHex[digest[i] >> 4];
    hex += kHex[digest[i] & 15];
  }
  return hex;
}

std::size_t count_of(const std::string& text, const std::string& what) {
  std::size_t count = 0;
  for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) {
    ++count;
  }
  return count;
}

// Sends SIGHUP and waits for the log's answer to it (the `reloads`+1-th "tokens reload").
::testing::AssertionResult reload(TallydProcess& server) {
  const std::size_t before = count_of(server.log(), "tokens reload");
  server.send_signal(SIGHUP);
  return wait_until([&] { return count_of(server.log(), "tokens reload") > before; },
                    std::chrono::seconds(10), "the log answers the SIGHUP");
}

// The last line of a program's output that is not a tallyctl message: the token it printed.
std::string token_printed(const std::string& output) {
  std::string token;
  std::size_t begin = 0;
  while (begin < output.size()) {
    std::size_t end = output.find('\n', begin);
    if (end == std::string::npos) end = output.size();
    const std::string line = output.substr(begin, end - begin);
    if (!line.empty() && !line.starts_with("tallyctl:")) token = line;
    begin = end + 1;
  }
  return token;
}

// The demo's lines come on stdout just after the ready line: waits for `text` in the log.
::testing::AssertionResult log_shows(TallydProcess& server, const std::string& text) {
  return wait_until([&] { return server.log().find(text) != std::string::npos; },
                    std::chrono::seconds(10), "the log shows " + text);
}

// Runs `command` (a binary of build/bin and its arguments) under timeout(1): its exit code
// (124 once 60 s have passed) and its output.
RunResult run_bounded(const std::string& command) {
  const char* bin_dir = std::getenv("TALLY_BIN_DIR");
  RunResult result;
  FILE* pipe = ::popen(
      ("timeout 60 " + std::string(bin_dir ? bin_dir : "build/bin") + "/" + command + " 2>&1")
          .c_str(),
      "r");
  if (pipe == nullptr) return result;
  char chunk[4096];
  std::size_t got = 0;
  while ((got = std::fread(chunk, 1, sizeof chunk, pipe)) > 0) result.output.append(chunk, got);
  const int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

int vote_status(TallydProcess& server, const std::string& voter, const std::string& token) {
  HttpClient client(server.port());
  return client.request("POST", "/v1/votes", ballot("c01", voter), token).status;
}

TEST(TokensOnDisk, GeneratedTokensAreStoredAsDigestsAndShownOnceInTheirOwnFile) {
  TallydProcess server;
  ASSERT_TRUE(server.start({"--demo"})) << server.log();
  const auto tokens_json = server.data_dir() / "tokens.json";
  const auto generated = server.data_dir() / "tokens.generated";
  ASSERT_FALSE(server.ingest_token().empty()) << read_text(generated);
  const std::string on_disk = read_text(tokens_json);
  for (const std::string& token :
       {server.ingest_token(), server.admin_token(), server.read_token()}) {
    ASSERT_FALSE(token.empty());
    EXPECT_EQ(on_disk.find(token), std::string::npos) << "plaintext in tokens.json: " << on_disk;
    EXPECT_NE(on_disk.find("sha256:" + sha256_hex(token)), std::string::npos) << on_disk;
  }
  EXPECT_EQ(mode_of(tokens_json), 0600u);
  EXPECT_EQ(mode_of(generated), 0600u);
  EXPECT_NE(server.log().find("their plaintext is in generated=\"" + generated.string() +
                              "\", shown there once"),
            std::string::npos)
      << server.log();
  EXPECT_TRUE(log_shows(server, "Bearer " + server.ingest_token()))
      << "the demo's curl line has a working token";
  HttpClient client(server.port());
  const HttpAnswer vote =
      client.request("POST", "/v1/votes", ballot("c01", "v1"), server.ingest_token());
  EXPECT_EQ(vote.status, 200) << vote.body;
  const std::string seq = std::to_string(number_of(vote.body, "seq"));
  EXPECT_EQ(client.request("GET", "/v1/votes/" + seq, {}, server.admin_token()).status, 200);
  EXPECT_EQ(client.request("POST", "/v1/votes", ballot("c01", "v2"), server.read_token()).status,
            403);

  // A restart neither generates nor writes plaintext again; it reminds the operator.
  const std::string shown = read_text(generated);
  EXPECT_EQ(server.stop(SIGTERM), 0);
  ASSERT_TRUE(server.start({"--demo"})) << server.log();
  EXPECT_EQ(read_text(generated), shown);
  EXPECT_EQ(read_text(tokens_json), on_disk);
  EXPECT_NE(server.log().find("tokens generated=\"" + generated.string() +
                              "\" still holds generated tokens"),
            std::string::npos)
      << server.log();
  EXPECT_EQ(vote_status(server, "v3", server.ingest_token()), 200);
  EXPECT_EQ(server.stop(SIGTERM), 0);
}

TEST(TokensOnDisk, DemoWithoutAKnownTokenSaysHowToMakeOne) {
  TallydProcess server;
  ASSERT_TRUE(server.start({"--demo"})) << server.log();
  EXPECT_EQ(server.stop(SIGTERM), 0);
  std::filesystem::remove(server.data_dir() / "tokens.generated");
  ASSERT_TRUE(server.start({"--demo"})) << server.log();
  EXPECT_TRUE(log_shows(server,
                        "No ingest token is known in plaintext: make one with\n"
                        "  tallyctl token new --kind ingest --tokens " +
                            (server.data_dir() / "tokens.json").string()))
      << server.log();
  EXPECT_TRUE(log_shows(server, "Bearer INGEST_TOKEN")) << server.log();
  EXPECT_EQ(server.stop(SIGTERM), 0);
}

TEST(TokensOnDisk, NewTokenWorksAfterSighupAndRemovingItsDigestRevokesIt) {
  TallydProcess server;
  ASSERT_TRUE(server.start({"--demo"})) << server.log();
  const std::string tokens_json = (server.data_dir() / "tokens.json").string();
  const RunResult made = run_tallyctl("token new --kind ingest --tokens " + tokens_json);
  ASSERT_EQ(made.exit_code, 0) << made.output;
  const std::string token = token_printed(made.output);
  ASSERT_TRUE(token.starts_with("ingest-")) << made.output;
  const std::string digest = "sha256:" + sha256_hex(token);
  const std::string with_new = read_text(tokens_json);
  EXPECT_EQ(with_new.find(token), std::string::npos) << "plaintext in the file: " << with_new;
  ASSERT_NE(with_new.find(digest), std::string::npos) << with_new;
  EXPECT_EQ(mode_of(tokens_json), 0600u);

  // A keep-alive connection checks a header it sent before against the set in force.
  HttpClient keep_alive(server.port());
  EXPECT_EQ(keep_alive.request("POST", "/v1/votes", ballot("c01", "k1"), token).status, 401)
      << "not in force before SIGHUP";
  EXPECT_EQ(vote_status(server, "v1", token), 401);
  ASSERT_TRUE(reload(server)) << server.log();
  EXPECT_NE(server.log().find("tokens reloaded path=\"" + tokens_json + "\""), std::string::npos);
  EXPECT_EQ(vote_status(server, "v1", token), 200);
  EXPECT_EQ(keep_alive.request("POST", "/v1/votes", ballot("c01", "k1"), token).status, 200);
  EXPECT_EQ(keep_alive.request("POST", "/v1/votes", ballot("c02", "k1"), token).status, 200);
  EXPECT_EQ(vote_status(server, "v2", server.ingest_token()), 200) << "the others still work";

  std::string revoked = with_new;
  revoked.erase(revoked.find(", \"" + digest + "\""), digest.size() + 4);
  ASSERT_EQ(revoked.find(digest), std::string::npos) << revoked;
  write_text(tokens_json, revoked);
  ASSERT_TRUE(reload(server)) << server.log();
  EXPECT_EQ(vote_status(server, "v3", token), 401);
  EXPECT_EQ(keep_alive.request("POST", "/v1/votes", ballot("c03", "k1"), token).status, 401)
      << "revoked on a connection that used it too";
  EXPECT_EQ(vote_status(server, "v3", server.ingest_token()), 200);
  EXPECT_EQ(server.stop(SIGTERM), 0);
}

TEST(TokensOnDisk, PlaintextFileStillWorksAndWarnsOnceAtEachLoad) {
  TallydProcess server;
  const auto tokens_path = server.dir() / "legacy-tokens.json";
  write_text(tokens_path, R"({"ingest":["legacy-ingest-token-01"],"admin":[")" +
                              std::string("sha256:") + sha256_hex("legacy-admin-token-001") +
                              R"(","legacy-admin-token-002"]})");
  ASSERT_TRUE(server.start({"--demo", "--tokens", tokens_path.string()})) << server.log();
  const std::string warning =
      "tokens file path=\"" + tokens_path.string() + "\" holds 2 token(s) in plaintext";
  EXPECT_EQ(count_of(server.log(), warning), 1u) << server.log();
  EXPECT_NE(server.log().find("tallyctl token hash"), std::string::npos) << server.log();
  EXPECT_EQ(vote_status(server, "v1", "legacy-ingest-token-01"), 200);
  EXPECT_EQ(vote_status(server, "v2", "legacy-admin-token-001"), 200);
  EXPECT_EQ(vote_status(server, "v3", "legacy-admin-token-002"), 200);
  EXPECT_TRUE(log_shows(server, "Bearer legacy-ingest-token-01"))
      << "the demo's curl line uses the plaintext ingest token";
  ASSERT_TRUE(reload(server)) << server.log();
  EXPECT_EQ(count_of(server.log(), warning), 2u) << server.log();
  EXPECT_EQ(server.stop(SIGTERM), 0);
}

TEST(TokensOnDisk, MalformedDigestStopsTheStartWithTheReason) {
  TempDir dir;
  const std::string tokens_path = dir.sub("tokens.json");
  write_text(tokens_path, R"({"ingest":["sha256:)" + sha256_hex("x") + R"("],"admin":["sha256:)" +
                              sha256_hex("y").substr(1) + R"("]})");
  // Bounded: a tallyd that took the file would serve until killed.
  const RunResult run = run_bounded("tallyd --data-dir " + dir.sub("data") +
                                    " --listen 127.0.0.1:0 --tokens " + tokens_path);
  EXPECT_EQ(run.exit_code, 1) << run.output;
  EXPECT_NE(
      run.output.find(tokens_path + ": admin[0]: a sha256: digest must have 64 hex digits, got 63 "
                                    "characters"),
      std::string::npos)
      << run.output;
  EXPECT_EQ(run.output.find("tallyd ready"), std::string::npos) << run.output;
}

TEST(TokensOnDisk, MalformedDigestAtSighupKeepsThePreviousTokens) {
  TallydProcess server;
  ASSERT_TRUE(server.start({"--demo"})) << server.log();
  const auto tokens_json = server.data_dir() / "tokens.json";
  write_text(tokens_json, R"({"ingest":["sha256:not-a-digest"]})");
  ASSERT_TRUE(reload(server)) << server.log();
  EXPECT_NE(server.log().find("tokens reload failed path=\"" + tokens_json.string() +
                              "\" error=\"" + tokens_json.string() +
                              ": ingest[0]: a sha256: digest must have 64 hex digits, got 12 "
                              "characters\": previous tokens kept"),
            std::string::npos)
      << server.log();
  EXPECT_EQ(vote_status(server, "v1", server.ingest_token()), 200);
  EXPECT_TRUE(server.alive());
  EXPECT_EQ(server.stop(SIGTERM), 0);
}

TEST(TallyctlToken, HashPrintsTheSha256OfTheTokenOnStdin) {
  TempDir dir;
  write_text(dir.sub("token"), "ingest-token-000001\n");
  write_text(dir.sub("short"), "short\n");
  const RunResult hashed = run_tallyctl("token hash < " + dir.sub("token"));
  EXPECT_EQ(hashed.exit_code, 0) << hashed.output;
  EXPECT_EQ(hashed.output, "sha256:" + sha256_hex("ingest-token-000001") + "\n");
  const RunResult short_token = run_tallyctl("token hash < " + dir.sub("short"));
  EXPECT_EQ(short_token.exit_code, 1);
  EXPECT_EQ(short_token.output,
            "tallyctl: token hash: stdin: a token must have 16..256 characters, got 5\n");
}

TEST(TallyctlToken, NewAddsToAFileItCreatesForItsOwnerOnly) {
  TempDir dir;
  const std::string tokens_path = dir.sub("tokens.json");
  const RunResult admin = run_tallyctl("token new --kind admin --tokens " + tokens_path);
  ASSERT_EQ(admin.exit_code, 0) << admin.output;
  const RunResult read = run_tallyctl("token new --kind read --tokens " + tokens_path);
  ASSERT_EQ(read.exit_code, 0) << read.output;
  const std::string file = read_text(tokens_path);
  EXPECT_EQ(mode_of(tokens_path), 0600u);
  for (const std::string& token : {token_printed(admin.output), token_printed(read.output)}) {
    EXPECT_EQ(file.find(token), std::string::npos) << file;
    EXPECT_NE(file.find("sha256:" + sha256_hex(token)), std::string::npos) << file;
  }
  EXPECT_TRUE(token_printed(read.output).starts_with("read-"));
  EXPECT_EQ(run_tallyctl("token new --kind vote").exit_code, 2);
  EXPECT_EQ(run_tallyctl("token new").exit_code, 2);
  write_text(tokens_path, "{\"admin\":[\"sha256:0\"]}");
  const RunResult broken = run_tallyctl("token new --kind read --tokens " + tokens_path);
  EXPECT_EQ(broken.exit_code, 1);
  EXPECT_NE(broken.output.find(tokens_path + ": admin[0]: a sha256: digest"), std::string::npos)
      << broken.output;
  EXPECT_EQ(read_text(tokens_path), "{\"admin\":[\"sha256:0\"]}") << "a bad file left as it was";
}

}  // namespace
}  // namespace tally::testing
