// Disk full: the real tallyd keeps its data on a small tmpfs that a filler file then fills
// up mid-run. A full disk may pass (an operator frees space), so the writer holds the batch
// that failed, unanswered, and retries it for --storage-retry-seconds while new votes are
// answered 503 `unavailable`:
// - freed in time, the held votes are answered `accepted` with their seqs and service resumes;
// - still full when the time runs out, votes are answered 503 `unavailable` (never
//   `accepted`), and tallyd logs why and exits 1 (for its service manager to restart it), not
//   crash and not linger unready.
// A disk that fails for good (an ext4 file system shut down: every write EIO) is not waited
// for: tallyd exits 1 at once, whatever the retry time.
// Either way, after a restart every acknowledged vote is still counted with its seq, no vote
// that was answered `unavailable` is counted (resending it is accepted, not a duplicate), and
// `tallyctl verify` passes. Needs root for the mounts, as the README's commands and CI run;
// the ext4 test also needs mkfs.ext4 and a loop device, and says so when it skips.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>

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

// A 48 MiB tmpfs mounted on tallyd's data dir for the life of the test.
class SmallDisk {
 public:
  explicit SmallDisk(std::filesystem::path mount_point) : path_(std::move(mount_point)) {
    std::filesystem::create_directories(path_);
    mounted_ = ::mount("tmpfs", path_.c_str(), "tmpfs", 0, "size=48m") == 0;
    if (!mounted_) why_ = std::string("mounting a tmpfs needs root: ") + std::strerror(errno);
  }
  ~SmallDisk() {
    if (mounted_) ::umount2(path_.c_str(), MNT_DETACH);
  }
  bool mounted() const { return mounted_; }
  const std::string& why() const { return why_; }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  bool mounted_ = false;
  std::string why_;
};

// The value of an unlabelled metric in /metrics, or -1 when it is missing.
double metric(int port, const std::string& name) {
  HttpClient client(port);
  const std::string body = "\n" + client.request("GET", "/metrics").body;
  const std::size_t at = body.find("\n" + name + " ");
  return at == std::string::npos ? -1 : std::atof(body.c_str() + at + name.size() + 2);
}

// 50 votes while the disk has room, each accepted: their seqs by voter.
void vote_before_the_disk_fills(TallydProcess& tallyd,
                                std::map<std::string, std::uint64_t>& accepted) {
  HttpClient client(tallyd.port());
  for (int i = 0; i < 50; ++i) {
    const std::string voter = "before-" + std::to_string(i);
    const HttpAnswer answer =
        client.request("POST", "/v1/votes", vote_body(voter), tallyd.ingest_token());
    ASSERT_EQ(status_of(answer.body), "accepted") << answer.body;
    accepted[voter] = seq_of(answer.body);
  }
}

void expect_verified(const std::filesystem::path& data_dir) {
  const char* bin_dir = std::getenv("TALLY_BIN_DIR");
  const std::string verify = std::string(bin_dir ? bin_dir : "build/bin") +
                             "/tallyctl verify --data-dir " + data_dir.string() +
                             " > /dev/null 2>&1";
  EXPECT_EQ(std::system(verify.c_str()), 0);
}

// After a restart: every accepted vote is a duplicate with its seq, the tally counts exactly
// them, and every refused one is accepted now (it was not counted).
void expect_restart_keeps_exactly(TallydProcess& tallyd,
                                  const std::map<std::string, std::uint64_t>& accepted,
                                  const std::vector<std::string>& refused) {
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
}

TEST(DiskFull, AFullDiskThatStaysFullFailsStorageOnceTheRetryTimeRunsOut) {
  TallydProcess tallyd;
  SmallDisk disk(tallyd.dir() / "data");
  ASSERT_TRUE(disk.mounted()) << disk.why();
  const std::filesystem::path mount_point = disk.path();

  ASSERT_TRUE(tallyd.start({"--demo", "--storage-retry-seconds", "1"})) << tallyd.log();
  std::map<std::string, std::uint64_t> accepted;
  ASSERT_NO_FATAL_FAILURE(vote_before_the_disk_fills(tallyd, accepted));

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
  // It retried for the second it was given, then says why once, with what it means, answers
  // what it holds, and exits 1 for its service manager to restart it: staying up would
  // answer 503 until someone noticed.
  ASSERT_EQ(tallyd.wait_exit(std::chrono::seconds(30)), 1) << tallyd.log();
  const std::string log = tallyd.log();
  EXPECT_NE(log.find("storage write failed, retrying for up to 1 s"), std::string::npos) << log;
  EXPECT_NE(log.find("storage failed error=\"storage: write of seqs"), std::string::npos) << log;
  EXPECT_NE(log.find("No space left on device; the data dir's file system is full: free space "
                     "on it; still failing after"),
            std::string::npos)
      << log;
  EXPECT_EQ(log.find("storage write recovered"), std::string::npos) << log;

  std::filesystem::remove(mount_point / "filler");
  expect_restart_keeps_exactly(tallyd, accepted, refused);
  expect_verified(mount_point);
}

// One client voting in turn, as a polling station would: it stops at the first answer that is
// not `accepted`, or when told to.
class Voter {
 public:
  Voter(int port, std::string token) : port_(port), token_(std::move(token)) {
    thread_ = std::thread([this] { run(); });
  }
  ~Voter() { finish(); }
  void finish() {
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
  }
  int answers() const { return answers_.load(); }
  bool done() const { return done_.load(); }
  // The voter whose answer is awaited, or "".
  std::string waiting_for() const {
    std::lock_guard lock(mutex_);
    return waiting_for_;
  }
  std::map<std::string, std::uint64_t> accepted() const {
    std::lock_guard lock(mutex_);
    return accepted_;
  }
  std::string refusal() const {
    std::lock_guard lock(mutex_);
    return refusal_;
  }

 private:
  void run() {
    HttpClient client(port_, 120'000);
    for (int i = 0; i < 20'000 && !stop_.load(); ++i) {
      const std::string voter = "during-" + std::to_string(i);
      {
        std::lock_guard lock(mutex_);
        waiting_for_ = voter;
      }
      const HttpAnswer answer = client.request("POST", "/v1/votes", vote_body(voter), token_);
      std::lock_guard lock(mutex_);
      waiting_for_.clear();
      answers_.fetch_add(1);
      if (status_of(answer.body) != "accepted") {
        refusal_ = voter + ": HTTP " + std::to_string(answer.status) + " " + answer.body;
        break;
      }
      accepted_[voter] = seq_of(answer.body);
    }
    done_.store(true);
  }

  const int port_;
  const std::string token_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> done_{false};
  std::atomic<int> answers_{0};
  mutable std::mutex mutex_;
  std::string waiting_for_;                        // guarded by mutex_
  std::map<std::string, std::uint64_t> accepted_;  // guarded by mutex_
  std::string refusal_;                            // guarded by mutex_
  std::thread thread_;
};

TEST(DiskFull, VotesWaitWhileTheDiskIsFullAndAreAcceptedWithTheirSeqsOnceSpaceIsFreed) {
  TallydProcess tallyd;
  SmallDisk disk(tallyd.dir() / "data");
  ASSERT_TRUE(disk.mounted()) << disk.why();
  const std::filesystem::path mount_point = disk.path();

  // Far longer than the test: the space comes back before storage would give up.
  ASSERT_TRUE(tallyd.start({"--demo", "--storage-retry-seconds", "600"})) << tallyd.log();
  std::map<std::string, std::uint64_t> accepted;
  ASSERT_NO_FATAL_FAILURE(vote_before_the_disk_fills(tallyd, accepted));
  EXPECT_EQ(metric(tallyd.port(), "tally_storage_retrying"), 0);

  fill_up(mount_point / "filler");
  Voter station(tallyd.port(), tallyd.ingest_token());
  ASSERT_TRUE(wait_until([&] { return metric(tallyd.port(), "tally_storage_retrying") == 1; },
                         std::chrono::seconds(60), "storage retries a write",
                         std::chrono::milliseconds(20)))
      << station.refusal() << "\n"
      << tallyd.log();
  // The vote in flight is held: neither accepted nor refused while the disk stays full.
  const std::string held = station.waiting_for();
  ASSERT_FALSE(held.empty()) << station.refusal();
  const int answers = station.answers();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_EQ(station.answers(), answers) << "a held vote was answered: " << station.refusal();
  EXPECT_EQ(station.waiting_for(), held);
  EXPECT_EQ(metric(tallyd.port(), "tally_storage_retrying"), 1);
  EXPECT_GE(metric(tallyd.port(), "tally_storage_write_retries_total"), 1);
  // New votes are refused at once, with Retry-After; the server is not ready meanwhile.
  std::vector<std::string> refused;
  {
    HttpClient client(tallyd.port());
    EXPECT_EQ(client.request("GET", "/readyz").status, 503);
    for (int i = 0; i < 3; ++i) {
      const std::string voter = "refused-" + std::to_string(i);
      const HttpAnswer answer =
          client.request("POST", "/v1/votes", vote_body(voter), tallyd.ingest_token());
      EXPECT_EQ(answer.status, 503) << answer.body;
      EXPECT_EQ(status_of(answer.body), "unavailable") << answer.body;
      EXPECT_TRUE(answer.has_header("Retry-After")) << answer.headers;
      refused.push_back(voter);
    }
  }

  std::filesystem::remove(mount_point / "filler");
  ASSERT_TRUE(wait_until([&] { return station.answers() > answers || station.done(); },
                         std::chrono::seconds(60), "the held vote is answered"))
      << tallyd.log();
  station.finish();
  EXPECT_EQ(station.refusal(), "") << tallyd.log();
  const auto during = station.accepted();
  ASSERT_EQ(during.count(held), 1u) << held << " was not accepted";
  accepted.insert(during.begin(), during.end());
  EXPECT_EQ(metric(tallyd.port(), "tally_storage_retrying"), 0);
  const std::string log = tallyd.log();
  EXPECT_NE(log.find("storage write failed, retrying for up to 600 s error=\"storage: write of "
                     "seqs " +
                     std::to_string(during.at(held))),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("No space left on device; the data dir's file system is full"),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("storage write recovered after"), std::string::npos) << log;
  EXPECT_EQ(log.find("storage failed"), std::string::npos) << log;
  // Service resumed: new votes are accepted, the refused ones too (they were not counted).
  {
    HttpClient client(tallyd.port());
    EXPECT_EQ(client.request("GET", "/readyz").status, 200);
    for (const std::string& voter : refused) {
      const HttpAnswer answer =
          client.request("POST", "/v1/votes", vote_body(voter), tallyd.ingest_token());
      ASSERT_EQ(status_of(answer.body), "accepted") << voter << ": " << answer.body;
      accepted[voter] = seq_of(answer.body);
    }
  }
  // Killed, not stopped: recovery reads the WAL as the retries left it, where a write that
  // failed half-way must neither hide the later records nor count a held vote twice.
  tallyd.stop(SIGKILL);
  expect_restart_keeps_exactly(tallyd, accepted, {});
  expect_verified(mount_point);
}

// A 256 MiB ext4 file system (room for the WAL that RocksDB preallocates) in an image file, mounted
// through a loop device on `mount_point`.
class Ext4Disk {
 public:
  Ext4Disk(const std::filesystem::path& image, std::filesystem::path mount_point)
      : image_(image), path_(std::move(mount_point)) {
    std::filesystem::create_directories(path_);
    const std::string make = "truncate -s 256M " + image.string() + " && mkfs.ext4 -q -F " +
                             image.string() + " > /dev/null 2>&1";
    if (std::system(make.c_str()) != 0) {
      why_ = "mkfs.ext4 failed or is missing (e2fsprogs)";
      return;
    }
    mount();
  }
  ~Ext4Disk() {
    if (mounted_) ::umount2(path_.c_str(), MNT_DETACH);
  }
  bool mount() {
    const std::string command =
        "mount -o loop " + image_.string() + " " + path_.string() + " > /dev/null 2>&1";
    if (std::system(command.c_str()) != 0) {
      why_ = "mount -o loop failed: no loop device here?";
      return false;
    }
    mounted_ = true;
    return true;
  }
  void unmount() {
    if (mounted_ && ::umount(path_.c_str()) == 0) mounted_ = false;
  }
  // EXT4_IOC_SHUTDOWN (EXT4_GOING_FLAGS_LOGFLUSH): as after a fatal disk error, every later
  // write fails with EIO until the file system is mounted again.
  bool shut_down() {
    const int fd = ::open(path_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return false;
    constexpr unsigned long kExt4IocShutdown = _IOR('X', 125, std::uint32_t);
    std::uint32_t flags = 0x1;
    const bool done = ::ioctl(fd, kExt4IocShutdown, &flags) == 0;
    ::close(fd);
    return done;
  }
  bool mounted() const { return mounted_; }
  const std::string& why() const { return why_; }

 private:
  std::filesystem::path image_;
  std::filesystem::path path_;
  bool mounted_ = false;
  std::string why_;
};

TEST(DiskError, ADiskThatFailsForGoodStopsTallydAtOnceWithoutWaitingTheRetryTime) {
  TallydProcess tallyd;
  Ext4Disk disk(tallyd.dir() / "disk.img", tallyd.dir() / "data");
  if (!disk.mounted()) GTEST_SKIP() << disk.why();

  // Far longer than the test: a failure that cannot pass must not wait for it.
  ASSERT_TRUE(tallyd.start({"--demo", "--storage-retry-seconds", "600"})) << tallyd.log();
  std::map<std::string, std::uint64_t> accepted;
  HttpClient client(tallyd.port());
  for (int i = 0; i < 20; ++i) {
    const std::string voter = "before-" + std::to_string(i);
    const HttpAnswer answer =
        client.request("POST", "/v1/votes", vote_body(voter), tallyd.ingest_token());
    ASSERT_EQ(status_of(answer.body), "accepted") << answer.body;
    accepted[voter] = seq_of(answer.body);
  }
  ASSERT_TRUE(disk.shut_down()) << std::strerror(errno);
  // Answered within the client's 10 s: refused, not held.
  const HttpAnswer answer =
      client.request("POST", "/v1/votes", vote_body("after"), tallyd.ingest_token());
  EXPECT_EQ(answer.status, 503) << answer.body << "\n" << tallyd.log();
  EXPECT_EQ(status_of(answer.body), "unavailable") << answer.body;
  ASSERT_EQ(tallyd.wait_exit(std::chrono::seconds(30)), 1) << tallyd.log();
  const std::string log = tallyd.log();
  EXPECT_NE(log.find("storage failed error=\"storage: write of seqs"), std::string::npos) << log;
  EXPECT_NE(log.find("Input/output error; an I/O error of the data dir's disk: check the kernel "
                     "log and the disk"),
            std::string::npos)
      << log;
  EXPECT_EQ(log.find("retrying"), std::string::npos) << log;

  disk.unmount();
  ASSERT_TRUE(disk.mount()) << disk.why();
  expect_restart_keeps_exactly(tallyd, accepted, {"after"});
  expect_verified(tallyd.dir() / "data");
  disk.unmount();
}

}  // namespace
}  // namespace tally::testing
