// Disk full: the real tallyd keeps its data on a small tmpfs that a filler file then fills
// up mid-run. Votes must then be answered 503 `unavailable` (never `accepted`), and tallyd
// must log why and exit 1 (for its service manager to restart it), not crash and not linger
// unready. After the space comes back and tallyd restarts, every acknowledged vote is still counted
// with its seq, no vote that was answered `unavailable` is counted (resending it is accepted, not a
// duplicate), and `tallyctl verify` passes. Needs root for the tmpfs mount, as the README's
// commands and CI run.
#include <gtest/gtest.h>
#include <sys/mount.h>

#include <cstring>
#include <map>

#include "tallyd_process.h"

namespace tally::testing {
namespace {

constexpr const char* kCampaign = "ordos-2023-zuimei";

std::uint64_t seq_of(const std::string& answer) {
  return static_cast<std::uint64_t>(number_of(answer, "seq"));
}

std::string vote_body(const std::string& voter) {
  return std::string("{\"campaign\":\"") + kCampaign + "\",\"candidate\":\"c03\",\"voter\":\"" +
         voter + "\",\"device\":\"d-" + voter + "\"}";
}

// Fills the file system holding `path` until a write fails for lack of space.
void fill_up(const std::filesystem::path& path) {
  std::FILE* file = std::fopen(path.c_str(), "wb");
  ASSERT_NE(file, nullptr);
  const std::string chunk(1 << 16, 'x');
  while (std::fwrite(chunk.data(), 1, chunk.size(), file) == chunk.size()) {
  }
  std::fflush(file);
  std::fclose(file);
}

TEST(DiskFull, VotesAreUnavailableWhileFullAndNothingHalfWrittenIsCounted) {
  TallydProcess tallyd;
  const std::filesystem::path mount_point = tallyd.dir() / "data";
  std::filesystem::create_directories(mount_point);
  ASSERT_EQ(::mount("tmpfs", mount_point.c_str(), "tmpfs", 0, "size=48m"), 0)
      << "mounting a tmpfs needs root: " << std::strerror(errno);
  struct Unmount {
    std::filesystem::path path;
    ~Unmount() { ::umount2(path.c_str(), MNT_DETACH); }
  } unmount{mount_point};

  ASSERT_TRUE(tallyd.start({"--demo"})) << tallyd.log();
  std::map<std::string, std::uint64_t> accepted;
  {
    HttpClient client(tallyd.port());
    for (int i = 0; i < 50; ++i) {
      const std::string voter = "before-" + std::to_string(i);
      const HttpAnswer answer =
          client.request("POST", "/v1/votes", vote_body(voter), tallyd.ingest_token());
      ASSERT_EQ(status_of(answer.body), "accepted") << answer.body;
      accepted[voter] = seq_of(answer.body);
    }
  }

  fill_up(mount_point / "filler");
  std::vector<std::string> refused;
  {
    HttpClient client(tallyd.port());
    // The log's next writes find no space: from the first failure on, nothing is accepted.
    bool failed = false;
    for (int i = 0; i < 20'000 && refused.size() < 20; ++i) {
      const std::string voter = "during-" + std::to_string(i);
      const HttpAnswer answer =
          client.request("POST", "/v1/votes", vote_body(voter), tallyd.ingest_token());
      const std::string status = status_of(answer.body);
      if (status == "accepted") {
        ASSERT_FALSE(failed) << "accepted after storage failed: " << answer.body;
        accepted[voter] = seq_of(answer.body);
        continue;
      }
      ASSERT_EQ(status, "unavailable") << "HTTP " << answer.status << " " << answer.body << "\n"
                                       << tallyd.log();
      ASSERT_EQ(answer.status, 503);
      EXPECT_TRUE(answer.has_header("Retry-After")) << answer.headers;
      failed = true;
      refused.push_back(voter);
    }
    ASSERT_FALSE(refused.empty()) << "the full disk never failed a write";
  }
  // It says why once, answers what it holds, and exits 1 for its service manager to restart
  // it: staying up would answer 503 until someone noticed.
  ASSERT_EQ(tallyd.wait_exit(std::chrono::seconds(30)), 1) << tallyd.log();
  const std::string log = tallyd.log();
  EXPECT_NE(log.find("storage failed error=\"storage: write of seqs"), std::string::npos) << log;
  EXPECT_NE(log.find("No space left on device"), std::string::npos) << log;

  std::filesystem::remove(mount_point / "filler");
  ASSERT_TRUE(tallyd.start({"--demo"})) << tallyd.log();
  HttpClient client(tallyd.port());
  for (const auto& [voter, seq] : accepted) {
    const HttpAnswer answer =
        client.request("POST", "/v1/votes", vote_body(voter), tallyd.ingest_token());
    ASSERT_EQ(status_of(answer.body), "duplicate") << voter << ": " << answer.body;
    ASSERT_EQ(seq_of(answer.body), seq) << voter;
  }
  const HttpAnswer tally =
      client.request("GET", std::string("/v1/campaigns/") + kCampaign + "/tally");
  EXPECT_EQ(static_cast<std::uint64_t>(number_of(tally.body, "total")), accepted.size())
      << tally.body;
  for (const std::string& voter : refused) {
    const HttpAnswer answer =
        client.request("POST", "/v1/votes", vote_body(voter), tallyd.ingest_token());
    EXPECT_EQ(status_of(answer.body), "accepted")
        << "phantom vote " << voter << ": " << answer.body;
  }
  EXPECT_EQ(tallyd.stop(SIGTERM), 0);
  const char* bin_dir = std::getenv("TALLY_BIN_DIR");
  const std::string verify = std::string(bin_dir ? bin_dir : "build/bin") +
                             "/tallyctl verify --data-dir " + mount_point.string() +
                             " > /dev/null 2>&1";
  EXPECT_EQ(std::system(verify.c_str()), 0);
}

}  // namespace
}  // namespace tally::testing
