// tallyd's log against the real binary (docs/LOGS.md): --log-level, RocksDB's lines in it and
// no LOG file of RocksDB's own, one line per campaign change, start-up campaign file and
// tokens reload, and values from outside (a title, a path, an error) quoted so that no input
// can break an event into lines or forge one.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "tallyd_process.h"

namespace tally::testing {
namespace {

// A whole event: time ("2026-12-05T08:21:04.661+00:00"), level, message; what any line of
// tallyd's stderr must be. Checked by hand: std::regex recurses once per character of `.+`,
// and a long line (RocksDB's options dump) overflowed the stack under ASan.
bool is_event_line(std::string_view line) {
  constexpr std::string_view kTimeShape = "dddd-dd-ddTdd:dd:dd.ddd+dd:dd";
  if (line.size() <= kTimeShape.size() + 1) return false;
  for (std::size_t i = 0; i < kTimeShape.size(); ++i) {
    const char want = kTimeShape[i];
    const char got = line[i];
    const bool ok = want == 'd'   ? (got >= '0' && got <= '9')
                    : want == '+' ? (got == '+' || got == '-')
                                  : got == want;
    if (!ok) return false;
  }
  std::string_view rest = line.substr(kTimeShape.size());
  if (rest.front() != ' ') return false;
  rest.remove_prefix(1);
  for (std::string_view level : {"trace", "debug", "info", "warning", "error", "critical"}) {
    if (rest.size() > level.size() + 1 && rest.substr(0, level.size()) == level &&
        rest[level.size()] == ' ') {
      return true;
    }
  }
  return false;
}

std::vector<std::string> lines_of(const std::string& log) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (start < log.size()) {
    const std::size_t end = log.find('\n', start);
    lines.push_back(log.substr(start, end - start));
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return lines;
}

// The lines that contain `needle`.
std::vector<std::string> lines_with(const std::string& log, const std::string& needle) {
  std::vector<std::string> found;
  for (const std::string& line : lines_of(log)) {
    if (line.find(needle) != std::string::npos) found.push_back(line);
  }
  return found;
}

// Fails on the first line that is not a whole event: a value broke a line, or forged one.
void expect_one_line_per_event(const std::string& log) {
  for (const std::string& line : lines_of(log)) {
    EXPECT_TRUE(is_event_line(line)) << "not an event line: " << line;
  }
}

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
    port = ntohs(address.sin_port);
  }
  ::close(fd);
  return port;
}

// Runs tallyd with `args` and --listen 127.0.0.1:`port` until it serves (its /healthz
// answers: a start whose ready line may not be logged), then stops it with SIGTERM. Its exit
// status; its stderr is in `log_path`.
int serve_then_stop(const std::vector<std::string>& args, int port,
                    const std::filesystem::path& log_path) {
  const char* bin_dir = std::getenv("TALLY_BIN_DIR");
  std::vector<std::string> argv_text = {std::string(bin_dir ? bin_dir : "build/bin") + "/tallyd",
                                        "--listen", "127.0.0.1:" + std::to_string(port)};
  argv_text.insert(argv_text.end(), args.begin(), args.end());
  const int log_fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(log_fd, 1);
    ::dup2(log_fd, 2);
    std::vector<char*> argv;
    for (auto& arg : argv_text) argv.push_back(arg.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(log_fd);
  const bool served = wait_until(
      [&] {
        HttpClient client(port, 1000);
        return client.connected() && client.request("GET", "/healthz").status == 200;
      },
      std::chrono::seconds(60), "tallyd serves");
  ::kill(pid, SIGTERM);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!served) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(TallydLogLevel, WarnKeepsWarningsAndLeavesOutInfoLines) {
  TallydProcess server;  // for its directory
  // A data dir open to other users is narrowed with a warning.
  std::filesystem::create_directories(server.data_dir());
  std::filesystem::permissions(server.data_dir(), std::filesystem::perms(0755),
                               std::filesystem::perm_options::replace);
  const auto log_path = server.dir() / "warn.log";
  const int port = free_port();
  ASSERT_GT(port, 0);
  ASSERT_EQ(serve_then_stop({"--data-dir", server.data_dir().string(), "--log-level", "warn"}, port,
                            log_path),
            0)
      << read_text(log_path);
  // Read once tallyd has exited: every line it would write is written.
  const std::string log = read_text(log_path);
  EXPECT_EQ(lines_with(log, " warning data dir was open to other users").size(), 1u) << log;
  EXPECT_EQ(lines_with(log, " info ").size(), 0u) << log;
  EXPECT_EQ(log.find("tallyd ready"), std::string::npos) << log;
  expect_one_line_per_event(log);
}

TEST(TallydLogLevel, DebugBringsRocksdbsLinesIntoTheLogAndRocksdbWritesNoLogFile) {
  TallydProcess server;
  // RocksDB repeats the data dir in its lines as it is: a line break in it must not end them.
  const auto data_dir = server.dir() / "data\nwith a line break";
  ASSERT_TRUE(server.start({"--log-level", "debug", "--data-dir", data_dir.string()}))
      << server.log();
  ASSERT_EQ(server.stop(SIGTERM), 0);
  const std::string log = server.log();
  // RocksDB's open reports its version and options, marked, at debug.
  EXPECT_FALSE(lines_with(log, " debug rocksdb: RocksDB version: ").empty()) << log;
  EXPECT_GT(lines_with(log, " rocksdb: ").size(), 10u) << log;
  EXPECT_FALSE(lines_with(log, " debug rocksdb: Write Ahead Log file in " + server.dir().string() +
                                   "/data\\nwith a line break")
                   .empty())
      << log;
  expect_one_line_per_event(log);
  for (const auto& entry : std::filesystem::directory_iterator(data_dir)) {
    const std::string name = entry.path().filename().string();
    EXPECT_NE(name.rfind("LOG", 0), 0u) << "RocksDB wrote its own log file: " << name;
  }
}

TEST(TallydLogLevel, InfoLeavesOutRocksdbsRoutineLines) {
  TallydProcess server;
  ASSERT_TRUE(server.start()) << server.log();
  ASSERT_EQ(server.stop(SIGTERM), 0);
  const std::string log = server.log();
  EXPECT_TRUE(lines_with(log, " debug ").empty()) << log;
  EXPECT_TRUE(lines_with(log, "rocksdb: RocksDB version").empty()) << log;
  EXPECT_EQ(lines_with(log, " info tallyd ready ").size(), 1u) << log;
}

// A campaign definition whose title holds what a log line must not take as it is: a line
// break followed by what looks like a whole event, and quotes.
std::string campaign_json(const std::string& id, const std::string& title_json,
                          const std::string& candidates = R"([{"id":"x","name":"X"}])") {
  return R"({"id":")" + id + R"(","title":")" + title_json +
         R"(","opens_at":"2000-01-01T00:00:00Z","closes_at":"2100-01-01T00:00:00Z",)"
         R"("utc_offset":"Z","rules":{"period":"campaign","max_votes_per_candidate":1,)"
         R"("max_candidates":1},"candidates":)" +
         candidates + "}";
}
constexpr char kForgingTitle[] =
    R"(line one\n2030-01-01T00:00:00.000+00:00 info tallyd ready \"forged\")";
// How the log shows that title: one value, its line break and quotes escaped.
constexpr char kLoggedTitle[] =
    R"(title="line one\n2030-01-01T00:00:00.000+00:00 info tallyd ready \"forged\"")";

TEST(TallydCampaignLog, EveryPutLogsOneLineWithItsOutcome) {
  TallydProcess server;
  ASSERT_TRUE(server.start()) << server.log();
  HttpClient client(server.port());
  const std::string path = "/v1/campaigns/logged";
  const std::string definition = campaign_json("logged", kForgingTitle);

  const HttpAnswer created = client.request("PUT", path, definition, server.admin_token());
  ASSERT_EQ(created.status, 201) << created.body;
  const HttpAnswer unchanged = client.request("PUT", path, definition, server.admin_token());
  ASSERT_EQ(unchanged.status, 200) << unchanged.body;
  const HttpAnswer updated =
      client.request("PUT", path, campaign_json("logged", "second title"), server.admin_token());
  ASSERT_EQ(updated.status, 200) << updated.body;
  ASSERT_EQ(status_of(updated.body), "updated");
  const HttpAnswer invalid =
      client.request("PUT", path, campaign_json("logged", "t", R"([{"id":"a b","name":"A"}])"),
                     server.admin_token());
  ASSERT_EQ(invalid.status, 400) << invalid.body;
  const HttpAnswer unauthorized = client.request("PUT", path, definition, server.ingest_token());
  ASSERT_EQ(unauthorized.status, 403) << unauthorized.body;
  // A counting change once a vote is in: refused.
  ASSERT_EQ(
      client
          .request("POST", "/v1/votes", R"({"campaign":"logged","candidate":"x","voter":"v1"})",
                   server.ingest_token())
          .status,
      200);
  const HttpAnswer conflict = client.request(
      "PUT", path,
      campaign_json("logged", "second title", R"([{"id":"x","name":"X"},{"id":"y","name":"Y"}])"),
      server.admin_token());
  ASSERT_EQ(conflict.status, 409) << conflict.body;
  // Each line is out before its answer is sent; the log is read after them.
  ASSERT_EQ(server.stop(SIGTERM), 0);
  const std::string log = server.log();

  const auto created_lines = lines_with(log, " info campaign created ");
  ASSERT_EQ(created_lines.size(), 1u) << log;
  EXPECT_NE(
      created_lines[0].find(R"(id="logged" seq=)" + std::to_string(number_of(created.body, "seq")) +
                            " " + kLoggedTitle + R"( peer="127.0.0.1")"),
      std::string::npos)
      << created_lines[0];
  EXPECT_EQ(lines_with(log, R"( info campaign unchanged id="logged" peer="127.0.0.1")").size(), 1u)
      << log;
  const auto updated_lines = lines_with(log, " info campaign updated ");
  ASSERT_EQ(updated_lines.size(), 1u) << log;
  EXPECT_NE(
      updated_lines[0].find(R"(id="logged" seq=)" + std::to_string(number_of(updated.body, "seq")) +
                            R"( title="second title" peer="127.0.0.1")"),
      std::string::npos)
      << updated_lines[0];

  const auto refused = lines_with(log, R"( warning campaign refused id="logged" )");
  ASSERT_EQ(refused.size(), 3u) << log;
  EXPECT_NE(refused[0].find(R"(status=invalid http_status=400 error="candidates[0].id: )"),
            std::string::npos)
      << refused[0];
  // The error quotes the id it refused; the log line quotes the error again.
  EXPECT_NE(refused[0].find(R"(got \"a b\"" peer="127.0.0.1")"), std::string::npos) << refused[0];
  EXPECT_NE(refused[1].find("status=forbidden http_status=403 "), std::string::npos) << refused[1];
  EXPECT_NE(refused[2].find("status=conflict http_status=409 "), std::string::npos) << refused[2];

  // The title's forged event is inside the created line, never a line of its own.
  for (const std::string& line : lines_of(log)) {
    EXPECT_NE(line.rfind("2030-01-01T", 0), 0u) << "a forged line: " << line;
  }
  expect_one_line_per_event(log);
}

TEST(TallydCampaignLog, CampaignFilesLogTheirOutcomeAtEachStart) {
  TallydProcess server;
  // A file name with a line break and a quote, as an operator's script might make.
  const auto file = server.dir() / "odd\nname \"1\".json";
  write_text(file, campaign_json("from-file", kForgingTitle));
  ASSERT_TRUE(server.start({"--campaign", file.string()})) << server.log();
  ASSERT_EQ(server.stop(SIGTERM), 0);
  const std::string quoted_source =
      "source=\"" + server.dir().string() + R"(/odd\nname \"1\".json")";
  auto created = lines_with(server.log(), R"( info campaign created id="from-file" seq=1 )");
  ASSERT_EQ(created.size(), 1u) << server.log();
  EXPECT_NE(created[0].find(std::string(kLoggedTitle) + " " + quoted_source), std::string::npos)
      << created[0];

  ASSERT_TRUE(server.start({"--campaign", file.string()})) << server.log();
  ASSERT_EQ(server.stop(SIGTERM), 0);
  EXPECT_EQ(lines_with(server.log(), R"( info campaign unchanged id="from-file" )" + quoted_source)
                .size(),
            1u)
      << server.log();
  expect_one_line_per_event(server.log());
}

TEST(TallydTokensLog, ReloadsLogTheirOutcomeWithThePathQuoted) {
  TallydProcess server;
  const auto tokens = server.dir() / "tok\"ens\n.json";
  write_text(tokens, R"({"ingest":["first-ingest-token-0001"],"admin":["first-admin-token-01"]})");
  ASSERT_TRUE(server.start({"--tokens", tokens.string()})) << server.log();
  const std::string quoted_path = "path=\"" + server.dir().string() + R"(/tok\"ens\n.json")";
  EXPECT_EQ(lines_with(server.log(), " info tokens " + quoted_path + " generated=false").size(), 1u)
      << server.log();

  write_text(tokens, R"({"ingest":["second-ingest-token-02"],"admin":[]})");
  server.send_signal(SIGHUP);
  ASSERT_TRUE(wait_until(
      [&] { return !lines_with(server.log(), " info tokens reloaded " + quoted_path).empty(); },
      std::chrono::seconds(10), "the log says the tokens were reloaded"))
      << server.log();
  EXPECT_EQ(server.log().find("second-ingest-token-02"), std::string::npos) << "a token logged";

  write_text(tokens, "{\"ingest\":[\"short\nline\"]}");
  server.send_signal(SIGHUP);
  ASSERT_TRUE(
      wait_until([&] { return !lines_with(server.log(), " error tokens reload failed ").empty(); },
                 std::chrono::seconds(10), "the log says the reload failed"))
      << server.log();
  const auto failed = lines_with(server.log(), " error tokens reload failed ");
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_NE(failed[0].find(quoted_path + " error=\""), std::string::npos) << failed[0];
  EXPECT_NE(failed[0].find("\": previous tokens kept"), std::string::npos) << failed[0];
  ASSERT_EQ(server.stop(SIGTERM), 0);
  expect_one_line_per_event(server.log());
}

}  // namespace
}  // namespace tally::testing
