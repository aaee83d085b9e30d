// tallyd's command line against the real binary: --help and --version, strict refusal of
// unknown and malformed options (exit 2, before anything is created), the --config file and
// the environment variables for the data dir and listen address.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tally/base/version.h"
#include "log_world.h"
#include "tallyd_process.h"

namespace tally {
namespace {

using testing::HttpClient;
using testing::run_program;
using testing::RunResult;
using testing::TallydProcess;
using testing::TempDir;

TEST(TallydCommandLine, HelpListsEveryFlagWithDefaultsAndTheExitStatuses) {
  const RunResult help = run_program("tallyd", "--help");
  EXPECT_EQ(help.exit_code, 0);
  for (const char* flag : {"--data-dir",
                           "--listen",
                           "--tokens",
                           "--campaign",
                           "--durability",
                           "--io-threads",
                           "--demo",
                           "--protect-reads",
                           "--log-level",
                           "--config",
                           "--version",
                           "--cluster",
                           "--node",
                           "--advertise",
                           "--max-header-bytes",
                           "--max-body-bytes",
                           "--max-batch-bytes",
                           "--max-batch-lines",
                           "--max-campaign-bytes",
                           "--max-inflight-body-bytes",
                           "--max-connections",
                           "--max-connections-per-peer",
                           "--idle-timeout-ms",
                           "--header-timeout-ms",
                           "--body-timeout-ms",
                           "--pipeline-depth",
                           "--max-tally-streams",
                           "--queue-depth",
                           "--commit-batch-events",
                           "--unsafe-test-clock-offset-ms"}) {
    EXPECT_NE(help.output.find(flag), std::string::npos) << flag;
  }
  EXPECT_NE(help.output.find("--max-body-bytes N=65536"), std::string::npos) << help.output;
  EXPECT_NE(help.output.find("TALLY_DATA_DIR"), std::string::npos);
  EXPECT_NE(help.output.find("TALLY_LISTEN"), std::string::npos);
  // Laid out for a terminal and for help2man: no line wider than 80 columns.
  std::istringstream lines(help.output);
  for (std::string line; std::getline(lines, line);) EXPECT_LE(line.size(), 80u) << line;
  const std::size_t exit_section = help.output.find("Exit status:");
  ASSERT_NE(exit_section, std::string::npos) << help.output;
  for (const char* status : {"\n  0 ", "\n  1 ", "\n  2 ", "\n  75 "}) {
    EXPECT_NE(help.output.find(status, exit_section), std::string::npos) << status;
  }
}

TEST(TallydCommandLine, VersionNamesThisBuildAndItsRevision) {
  const RunResult version = run_program("tallyd", "--version");
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_EQ(version.output, "tallyd " + std::string(base::version()) + " (revision " +
                                std::string(base::revision()) + ")\n");
  EXPECT_NE(base::revision(), "unknown") << "built outside a git checkout?";
}

// Each is refused with exit 2 and a reason that names the option, before the data dir is
// made: a typo or a bad number must never start a server with some other setting.
TEST(TallydCommandLine, UnknownAndMalformedOptionsExit2BeforeAnythingIsCreated) {
  TempDir dir;
  const std::string data = "--data-dir " + dir.sub("data");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"--listen 127.0.0.1:0", "--data-dir"},
      {data + " --max-conections 3", "--max-conections"},
      {data + " --max-body-bytes 173000abc", "--max-body-bytes"},
      {data + " --max-body-bytes 0x10000", "--max-body-bytes"},
      {data + " --max-body-bytes -5", "--max-body-bytes"},
      {data + " --max-body-bytes 99999999999999999999999", "--max-body-bytes"},
      {data + " --max-body-bytes 12", "--max-body-bytes"},
      {data + " --io-threads 1e3", "--io-threads"},
      {data + " --idle-timeout-ms 0", "--idle-timeout-ms"},
      {data + " --listen 127.0.0.1", "--listen"},
      {data + " --listen 127.0.0.1:70000", "--listen"},
      {data + " --durability fast", "--durability"},
      {data + " --log-level loud", "--log-level"},
      {data + " --node 'a b'", "--node"},
      {data + " --cluster nats://a:4222,,nats://b:4222", "--cluster"},
      {data + " stray-argument", "stray-argument"},
      {data + " --config " + dir.sub("missing.conf"), "missing.conf"},
  };
  for (const auto& [args, named] : cases) {
    const RunResult run = run_program("tallyd", args);
    EXPECT_EQ(run.exit_code, 2) << args << "\n" << run.output;
    EXPECT_NE(run.output.find(named), std::string::npos) << args << "\n" << run.output;
    EXPECT_FALSE(std::filesystem::exists(dir.sub("data"))) << args;
  }
}

TEST(TallydCommandLine, FlagsTakeTheirValueAfterAnEqualsSignToo) {
  TallydProcess server;
  ASSERT_TRUE(
      server.start_with_only({"--data-dir=" + server.data_dir().string(), "--listen=127.0.0.1:0",
                              "--io-threads=2", "--demo", "--protect-reads=true"}))
      << server.log();
  HttpClient client(server.port());
  EXPECT_EQ(client.request("GET", "/v1/campaigns").status, 401);
}

TEST(TallydCommandLine, AnOptionGivenTwiceTakesItsLastValueWhileCampaignRepeats) {
  TallydProcess server;
  const auto campaigns = std::filesystem::path(std::getenv("TALLY_SOURCE_DIR")) / "campaigns";
  ASSERT_TRUE(server.start(
      {"--listen", "127.0.0.1:0", "--max-connections", "1", "--max-connections", "2", "--campaign",
       (campaigns / "demo.json").string(), "--campaign", (campaigns / "demo.json").string()}))
      << server.log();
  HttpClient first(server.port());
  EXPECT_EQ(first.request("GET", "/healthz").status, 200);
  HttpClient second(server.port());
  EXPECT_EQ(second.request("GET", "/healthz").status, 200) << "the last --max-connections wins";
  HttpClient third(server.port());
  EXPECT_EQ(third.read_answer().status, 503);
}

void write_file(const std::filesystem::path& path, const std::string& text) {
  std::ofstream(path) << text;
}

TEST(TallydConfigFile, SetsTheSameOptionsAndTheCommandLineWins) {
  TallydProcess server;
  const auto config = server.dir() / "tallyd.conf";
  // Values the test can see from outside: the data dir, the address (port 0, then read from
  // the ready line), the demo campaign, protected reads and a connection limit.
  write_file(config,
             "# tallyd's options, one per line\n"
             "data-dir = \"" +
                 server.data_dir().string() +
                 "\"\n"
                 "listen = \"127.0.0.1:1\"\n"
                 "demo = true\n"
                 "protect-reads = true\n"
                 "max-connections = 2\n"
                 "io-threads = 2\n");
  // --listen on the command line overrides the file's unusable port 1.
  ASSERT_TRUE(server.start_with_only({"--config", config.string(), "--listen", "127.0.0.1:0"}))
      << server.log();
  EXPECT_TRUE(std::filesystem::exists(server.data_dir() / "CURRENT"));
  HttpClient first(server.port());
  EXPECT_EQ(first.request("GET", "/v1/campaigns").status, 401);  // protect-reads
  HttpClient second(server.port());
  EXPECT_EQ(second.request("GET", "/v1/campaigns").status, 401);
  HttpClient third(server.port());
  EXPECT_EQ(third.read_answer().status, 503) << "max-connections = 2 from the file";
}

TEST(TallydConfigFile, AMisspeltKeyOrABadValueIsRefusedWithExit2) {
  TempDir dir;
  const std::string data = dir.sub("data");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"max-conections = 3\n", "max-conections"},
      {"max-connections = \"many\"\n", "many"},
      {"queue-depth = 0x100\n", "queue-depth"},
  };
  for (const auto& [text, named] : cases) {
    write_file(dir.sub("tallyd.conf"), "data-dir = \"" + data + "\"\n" + text);
    const RunResult run = run_program("tallyd", "--config " + dir.sub("tallyd.conf"));
    EXPECT_EQ(run.exit_code, 2) << text << run.output;
    EXPECT_NE(run.output.find(named), std::string::npos) << text << run.output;
    EXPECT_FALSE(std::filesystem::exists(data)) << text;
  }
}

TEST(TallydEnvironment, NamesTheDataDirAndTheListenAddress) {
  TallydProcess server;
  const auto data = server.dir() / "from-env";
  server.set_env("TALLY_DATA_DIR", data.string());
  server.set_env("TALLY_LISTEN", "127.0.0.1:0");
  ASSERT_TRUE(server.start_with_only({"--io-threads", "2"})) << server.log();
  EXPECT_TRUE(std::filesystem::exists(data / "CURRENT"));
  HttpClient client(server.port());
  EXPECT_EQ(client.request("GET", "/healthz").status, 200);
}

TEST(TallydEnvironment, TheCommandLineWinsOverIt) {
  TallydProcess server;
  server.set_env("TALLY_DATA_DIR", (server.dir() / "not-this").string());
  server.set_env("TALLY_LISTEN", "127.0.0.1:1");
  ASSERT_TRUE(server.start()) << server.log();  // --data-dir and --listen given
  EXPECT_FALSE(std::filesystem::exists(server.dir() / "not-this"));
  EXPECT_TRUE(std::filesystem::exists(server.data_dir() / "CURRENT"));
}

}  // namespace
}  // namespace tally
