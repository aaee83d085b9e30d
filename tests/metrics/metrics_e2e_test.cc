// End-to-end tests of /metrics, the tally stream and the dashboard on the real build/bin/tallyd:
// the scrape counts posted votes and names the build, the connection gauges follow open
// connections, promtool accepts the scrape and the alert rules, a real Prometheus server
// scrapes tallyd and answers a PromQL query with the tally and every Grafana panel's query,
// Server-Sent Events follow votes and resume from Last-Event-ID, the tally history holds the
// server's samples, and headless Chromium renders posted votes, the history, alerts and the
// campaign's state on a laptop (1280 px) and a phone (390 px) without horizontal overflow.
// Tools that scripts/install-deps.sh installs (promtool, prometheus, chromium, curl) must be
// present: a missing one fails the test.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "tally/base/json.h"
#include "tally/base/version.h"
#include "tally/corpus/user_agents.h"
#include "tallyd_process.h"

namespace tally::testing {
namespace {

constexpr const char* kDemo = "ordos-2023-zuimei";
constexpr auto kPatience = std::chrono::seconds(60);

std::string ballot(const std::string& candidate, const std::string& voter) {
  return std::string(R"({"campaign":")") + kDemo + R"(","candidate":")" + candidate +
         R"(","voter":")" + voter + "\"}";
}

// Runs a shell command; its exit code and stdout.
struct CommandResult {
  int code = -1;
  std::string out;
};
CommandResult run(const std::string& command) {
  CommandResult result;
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return result;
  char chunk[4096];
  std::size_t got;
  while ((got = std::fread(chunk, 1, sizeof chunk, pipe)) > 0) result.out.append(chunk, got);
  const int status = ::pclose(pipe);
  result.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

bool have_tool(const std::string& name) { return run("command -v " + name).code == 0; }

std::string source_dir() {
  const char* dir = std::getenv("TALLY_SOURCE_DIR");
  return dir ? dir : ".";
}

// A free loopback TCP port (bound then released).
int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  socklen_t length = sizeof address;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  ::close(fd);
  return ntohs(address.sin_port);
}

// A Prometheus server that scrapes one tallyd every second, its files under `dir`; stopped when
// destroyed.
class PrometheusServer {
 public:
  PrometheusServer(const std::filesystem::path& dir, int tallyd_port)
      : dir_(dir), port_(free_port()) {
    const std::string config = (dir_ / "prometheus.yml").string();
    write_text(config,
               "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
               "scrape_configs:\n  - job_name: tally\n    static_configs:\n"
               "      - targets: ['127.0.0.1:" +
                   std::to_string(tallyd_port) + "']\n");
    const auto log = dir_ / "prometheus.log";
    pid_ = ::fork();
    if (pid_ == 0) {
      const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      const std::string config_flag = "--config.file=" + config;
      const std::string tsdb_flag = "--storage.tsdb.path=" + (dir_ / "tsdb").string();
      const std::string listen_flag = "--web.listen-address=127.0.0.1:" + std::to_string(port_);
      ::execlp("prometheus", "prometheus", config_flag.c_str(), tsdb_flag.c_str(),
               listen_flag.c_str(), "--log.level=warn", static_cast<char*>(nullptr));
      ::_exit(127);
    }
  }
  ~PrometheusServer() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
  PrometheusServer(const PrometheusServer&) = delete;
  PrometheusServer& operator=(const PrometheusServer&) = delete;

  bool started() const { return pid_ > 0; }
  std::string log() const { return read_text(dir_ / "prometheus.log"); }

  // The JSON answer of an instant query ("" when Prometheus does not answer yet).
  std::string query(const std::string& promql) const {
    const auto file = dir_ / "query.promql";
    write_text(file, promql);
    return run("curl -s --max-time 5 -G --data-urlencode query@" + file.string() + " " +
               url("/api/v1/query"))
        .out;
  }
  // The JSON answer of a GET of `path` (with its query string, already encoded).
  std::string get(const std::string& path) const {
    return run("curl -s --max-time 5 '" + url(path) + "'").out;
  }

 private:
  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  std::filesystem::path dir_;
  int port_;
  pid_t pid_ = -1;
};

// The samples of a query's answer: each series' labels and value; nullopt when the answer is
// not a successful instant vector.
struct Sample {
  std::map<std::string, std::string> labels;
  std::string value;
};
std::optional<std::vector<Sample>> samples_of(const std::string& answer) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(answer).get(root) != simdjson::SUCCESS) return std::nullopt;
  std::string_view status;
  if (root["status"].get(status) != simdjson::SUCCESS || status != "success") return std::nullopt;
  simdjson::dom::array result;
  if (root["data"]["result"].get(result) != simdjson::SUCCESS) return std::nullopt;
  std::vector<Sample> out;
  std::string_view type;
  if (root["data"]["resultType"].get(type) == simdjson::SUCCESS && type == "scalar") {
    out.push_back({});
    return out;
  }
  for (simdjson::dom::element series : result) {
    Sample sample;
    simdjson::dom::object labels;
    if (series["metric"].get(labels) == simdjson::SUCCESS) {
      for (auto [key, value] : labels) {
        std::string_view text;
        if (value.get(text) == simdjson::SUCCESS) sample.labels[std::string(key)] = text;
      }
    }
    std::string_view value;
    if (series["value"].at(1).get(value) == simdjson::SUCCESS) sample.value = value;
    out.push_back(std::move(sample));
  }
  return out;
}

// A Server-Sent Events client on a raw socket: reads events as the server sends them.
class SseClient {
 public:
  SseClient(int port, const std::string& target, const std::string& extra_headers = {}) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<std::uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) return;
    timeval timeout{30, 0};  // longer than a heartbeat
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    const std::string request = "GET " + target + " HTTP/1.1\r\nHost: test\r\n" +
                                "Accept: text/event-stream\r\n" + extra_headers + "\r\n";
    ::send(fd_, request.data(), request.size(), MSG_NOSIGNAL);
  }
  ~SseClient() {
    if (fd_ >= 0) ::close(fd_);
  }

  // The status code of the answer's head (0 if the connection ended first).
  int read_head() {
    std::size_t end;
    while ((end = buffer_.find("\r\n\r\n")) == std::string::npos) {
      if (!fill()) return 0;
    }
    head_ = buffer_.substr(0, end);
    buffer_.erase(0, end + 4);
    return std::atoi(head_.c_str() + 9);
  }
  const std::string& head() const { return head_; }

  struct Event {
    std::string name;  // "tally", or "comment" for a ": ..." line block
    std::string id;
    std::string data;
  };
  // The next event or comment block; nullopt when the stream ended or timed out.
  std::optional<Event> next() {
    for (;;) {
      std::size_t end;
      while ((end = buffer_.find("\n\n")) == std::string::npos) {
        if (!fill()) return std::nullopt;
      }
      const std::string block = buffer_.substr(0, end);
      buffer_.erase(0, end + 2);
      Event event;
      std::istringstream lines(block);
      std::string line;
      while (std::getline(lines, line)) {
        if (line.starts_with(":")) event.name = "comment";
        if (line.starts_with("event: ")) event.name = line.substr(7);
        if (line.starts_with("id: ")) event.id = line.substr(4);
        if (line.starts_with("data: ")) event.data += line.substr(6);
      }
      if (!event.name.empty()) return event;  // skips the `retry:` block
    }
  }
  // Next `tally` event, skipping heartbeats.
  std::optional<Event> next_tally() {
    for (;;) {
      auto event = next();
      if (!event || event->name == "tally") return event;
    }
  }

 private:
  bool fill() {
    char chunk[16384];
    const ssize_t got = ::recv(fd_, chunk, sizeof chunk, 0);
    if (got <= 0) return false;
    buffer_.append(chunk, static_cast<std::size_t>(got));
    return true;
  }
  int fd_ = -1;
  std::string buffer_;
  std::string head_;
};

// "votes" of `candidate` in a /tally JSON document, or -1.
long long votes_of(const std::string& json, const std::string& candidate) {
  const std::size_t at = json.find("\"id\":\"" + candidate + "\"");
  if (at == std::string::npos) return -1;
  const std::size_t votes = json.find("\"votes\":", at);
  return std::atoll(json.c_str() + votes + 8);
}

class MetricsE2eTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(server_.start({"--demo"})) << server_.log(); }

  void vote(const std::string& candidate, const std::string& voter) {
    HttpClient client(server_.port());
    const HttpAnswer answer =
        client.request("POST", "/v1/votes", ballot(candidate, voter), server_.ingest_token());
    ASSERT_EQ(answer.status, 200) << answer.body;
  }

  std::string scrape() {
    HttpClient client(server_.port());
    const HttpAnswer answer = client.request("GET", "/metrics");
    EXPECT_EQ(answer.status, 200);
    EXPECT_NE(answer.headers.find("text/plain; version=0.0.4"), std::string::npos);
    return answer.body;
  }

  std::string temp_file(const std::string& name, const std::string& text) {
    const auto path = server_.dir() / name;
    write_text(path, text);
    return path.string();
  }

  TallydProcess server_;
};

TEST_F(MetricsE2eTest, MetricsCountPostedVotesAndAnswers) {
  vote("c01", "alice");
  vote("c01", "bob");
  vote("c07", "alice");
  {
    HttpClient client(server_.port());
    EXPECT_EQ(
        client.request("POST", "/v1/votes", ballot("c01", "alice"), server_.ingest_token()).status,
        409);
  }
  const std::string text = scrape();
  EXPECT_NE(text.find("\ntally_votes_total{campaign=\"ordos-2023-zuimei\",candidate=\"c01\"} 2\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("\ntally_votes_total{campaign=\"ordos-2023-zuimei\",candidate=\"c07\"} 1\n"),
            std::string::npos);
  EXPECT_NE(text.find("\ntally_ingest_requests_total{status=\"accepted\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("\ntally_ingest_requests_total{status=\"duplicate\"} 1\n"),
            std::string::npos);
  EXPECT_NE(text.find("\ntally_ingest_latency_seconds_count 4\n"), std::string::npos);
  EXPECT_NE(text.find("\ntally_ready 1\n"), std::string::npos);
  EXPECT_NE(text.find("\ntally_commit_write_seconds_bucket{le=\"+Inf\"}"), std::string::npos);
  EXPECT_NE(text.find("\ntally_rocksdb_memtable_bytes "), std::string::npos);
  EXPECT_NE(text.find("\ntally_recovery_seconds "), std::string::npos);
  // Three counted ballots of two voters, none with a request id.
  EXPECT_NE(text.find("\ntally_table_keys{table=\"dedupe\"} 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\ntally_table_keys{table=\"quota\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("\ntally_table_keys{table=\"request_id\"} 0\n"), std::string::npos);
  EXPECT_NE(text.find("\ntally_table_bytes{table=\"dedupe\"} "), std::string::npos);
  EXPECT_EQ(text.find("\ntally_table_bytes{table=\"dedupe\"} 0\n"), std::string::npos);
}

TEST_F(MetricsE2eTest, PromtoolAcceptsALiveScrapeAndTheAlertRules) {
  ASSERT_TRUE(have_tool("promtool")) << "promtool missing: run scripts/install-deps.sh";
  vote("c03", "carol");
  const std::string text = scrape();
  // The demo campaign opens at start-up.
  EXPECT_NE(text.find("\ntally_campaign_open{campaign=\"ordos-2023-zuimei\"} 1\n"),
            std::string::npos)
      << text;
  const std::string path = temp_file("scrape.txt", text);
  const CommandResult metrics = run("promtool check metrics < " + path);
  EXPECT_EQ(metrics.code, 0) << metrics.out;
  const CommandResult rules =
      run("promtool check rules " + source_dir() + "/deploy/prometheus/rules.yml");
  EXPECT_EQ(rules.code, 0) << rules.out;
  // The rules fire on the series that should fire them, and only on those.
  const CommandResult fixtures =
      run("promtool test rules " + source_dir() + "/deploy/prometheus/rules_test.yml");
  EXPECT_EQ(fixtures.code, 0) << fixtures.out;
  const CommandResult config = run("promtool check config --syntax-only " + source_dir() +
                                   "/deploy/prometheus/prometheus.yml");
  EXPECT_EQ(config.code, 0) << config.out;
}

// Every tally_* metric that the alert rules and the Grafana dashboard query is one that tallyd
// exposes: a renamed or dropped metric would leave an alert that never fires, or an empty
// panel.
TEST_F(MetricsE2eTest, AlertRulesAndDashboardQueryOnlyExposedMetrics) {
  vote("c04", "grace");
  const std::string text = scrape();
  std::set<std::string> exposed;
  const std::regex type_line(R"(# TYPE (tally_[a-z0-9_]+) (counter|gauge|histogram|summary))");
  for (auto it = std::sregex_iterator(text.begin(), text.end(), type_line);
       it != std::sregex_iterator(); ++it) {
    const std::string family = (*it)[1];
    exposed.insert(family);
    if ((*it)[2] == "histogram" || (*it)[2] == "summary") {
      for (const char* suffix : {"_bucket", "_sum", "_count"}) exposed.insert(family + suffix);
    }
  }
  ASSERT_GT(exposed.size(), 20u) << text;
  const std::regex name(R"(\btally_[a-z0-9_]+)");
  for (const char* file :
       {"/deploy/prometheus/rules.yml", "/deploy/grafana/tally-dashboard.json"}) {
    const std::string source = read_text(source_dir() + file);
    ASSERT_FALSE(source.empty()) << source_dir() + file;
    std::size_t queried = 0;
    for (auto it = std::sregex_iterator(source.begin(), source.end(), name);
         it != std::sregex_iterator(); ++it) {
      const std::string metric = it->str();
      ++queried;
      // A replica group's series: a node run alone has none (tests/cluster checks them).
      if (metric.starts_with("tally_cluster_")) continue;
      EXPECT_TRUE(exposed.contains(metric)) << file << " queries " << metric;
    }
    EXPECT_GT(queried, 5u) << file;
  }
}

// The display name of `candidate` in a campaign definition's JSON (as GET /v1/campaigns/{id}
// answers it), or "".
std::string candidate_name(const std::string& definition, const std::string& candidate) {
  simdjson::dom::parser parser;
  simdjson::dom::array candidates;
  if (parser.parse(definition)["candidates"].get(candidates) != simdjson::SUCCESS) return {};
  for (simdjson::dom::element entry : candidates) {
    std::string_view id, name;
    if (entry["id"].get(id) == simdjson::SUCCESS && id == candidate &&
        entry["name"].get(name) == simdjson::SUCCESS) {
      return std::string(name);
    }
  }
  return {};
}

TEST_F(MetricsE2eTest, APrometheusServerScrapesTheTallyAndTheCandidatesNames) {
  ASSERT_TRUE(have_tool("prometheus")) << "prometheus missing: run scripts/install-deps.sh";
  ASSERT_TRUE(have_tool("curl")) << "curl missing: run scripts/install-deps.sh";
  vote("c02", "dave");
  vote("c02", "erin");
  vote("c02", "frank");
  // Names with what the text format must escape: a quote, a backslash, a line feed.
  const std::string definition =
      R"({"id":"names","title":"t","opens_at":"2000-01-01T00:00:00Z",)"
      R"("closes_at":"2100-01-01T00:00:00Z","utc_offset":"Z","rules":{"period":"campaign",)"
      R"("max_votes_per_candidate":1,"max_candidates":1},"candidates":[)"
      R"({"id":"q","name":"王 \"小明\" \\ 第\n二"},{"id":"e","name":"Zoë"}]})";
  HttpClient client(server_.port());
  ASSERT_EQ(client.request("PUT", "/v1/campaigns/names", definition, server_.admin_token()).status,
            201);
  const HttpAnswer demo = client.request("GET", std::string("/v1/campaigns/") + kDemo);
  ASSERT_EQ(demo.status, 200);
  const std::string demo_name = candidate_name(demo.body, "c02");
  ASSERT_FALSE(demo_name.empty()) << demo.body;
  // The scrape carries the name's UTF-8 bytes as they are.
  EXPECT_NE(scrape().find("\ntally_candidate_info{campaign=\"" + std::string(kDemo) +
                          "\",candidate=\"c02\",name=\"" + demo_name + "\"} 1\n"),
            std::string::npos);

  PrometheusServer prometheus(server_.dir(), server_.port());
  ASSERT_TRUE(prometheus.started());
  std::string answer;
  // Every half second: each try runs curl, and Prometheus scrapes once a second.
  const ::testing::AssertionResult found = wait_until(
      [&] {
        answer = prometheus.query(R"(tally_votes_total{candidate="c02"})");
        return answer.find(R"("candidate":"c02")") != std::string::npos &&
               answer.find(R"(,"3"])") != std::string::npos;
      },
      kPatience, "Prometheus answers the query with the tally", std::chrono::milliseconds(500));
  ASSERT_TRUE(found) << "last answer: " << answer << "\nprometheus log:\n" << prometheus.log();
  EXPECT_NE(answer.find(R"("campaign":"ordos-2023-zuimei")"), std::string::npos) << answer;

  // Prometheus reads back each name as it was defined.
  std::map<std::string, std::string> names;  // "campaign/candidate" -> name
  const auto info = samples_of(
      prometheus.query(R"(tally_candidate_info{campaign=~"names|)" + std::string(kDemo) + R"("})"));
  ASSERT_TRUE(info);
  for (const Sample& sample : *info) {
    names[sample.labels.at("campaign") + "/" + sample.labels.at("candidate")] =
        sample.labels.at("name");
  }
  EXPECT_EQ(names[std::string(kDemo) + "/c02"], demo_name);
  EXPECT_EQ(names["names/q"], "王 \"小明\" \\ 第\n二");
  EXPECT_EQ(names["names/e"], "Zoë");
}

// Every query of every Grafana panel, its template variables given a value the variable's own
// query finds, answers with at least one series from a Prometheus that scraped a tallyd that
// took votes (before its first scrape and after it, so that rates are not zero). An empty
// answer would be a panel that shows "No data": a misspelt metric or label, a join that
// matches nothing.
TEST_F(MetricsE2eTest, EveryGrafanaPanelQueryAnswersFromAPrometheusThatScrapedTheTally) {
  ASSERT_TRUE(have_tool("prometheus")) << "prometheus missing: run scripts/install-deps.sh";
  ASSERT_TRUE(have_tool("curl")) << "curl missing: run scripts/install-deps.sh";
  // Ballots without a device or a user agent: flagged no_device and bot_ua.
  vote("c05", "olga");
  vote("c06", "olga");
  PrometheusServer prometheus(server_.dir(), server_.port());
  ASSERT_TRUE(prometheus.started());
  ASSERT_TRUE(wait_until(
      [&] {
        const auto up = samples_of(prometheus.query("tally_build_info"));
        return up && !up->empty();
      },
      kPatience, "Prometheus scrapes tallyd", std::chrono::milliseconds(500)))
      << prometheus.log();
  vote("c05", "pavel");
  vote("c07", "pavel");
  ASSERT_TRUE(wait_until(
      [&] {
        const auto votes = samples_of(prometheus.query(R"(tally_votes_total{candidate="c05"})"));
        return votes && votes->size() == 1 && votes->front().value == "2";
      },
      kPatience, "Prometheus scrapes the later votes", std::chrono::milliseconds(500)));

  const simdjson::padded_string text(
      read_text(source_dir() + "/deploy/grafana/tally-dashboard.json"));
  simdjson::dom::parser parser;
  simdjson::dom::element dashboard;
  ASSERT_EQ(parser.parse(text).get(dashboard), simdjson::SUCCESS);

  // Each query variable's values, from its label_values(metric, label) definition.
  std::map<std::string, std::string> values;
  const std::regex label_values(R"(label_values\((\w+),\s*(\w+)\))");
  for (simdjson::dom::element variable : dashboard["templating"]["list"]) {
    std::string_view name, type, definition;
    ASSERT_EQ(variable["name"].get(name), simdjson::SUCCESS);
    if (variable["type"].get(type) != simdjson::SUCCESS || type != "query") continue;
    ASSERT_EQ(variable["definition"].get(definition), simdjson::SUCCESS);
    const std::string definition_text(definition);
    std::smatch match;
    ASSERT_TRUE(std::regex_match(definition_text, match, label_values)) << definition_text;
    const std::string found =
        prometheus.get("/api/v1/label/" + match[2].str() + "/values?match[]=" + match[1].str());
    EXPECT_NE(found.find(std::string("\"") + kDemo + "\""), std::string::npos)
        << name << ": " << found;
    values[std::string(name)] = kDemo;
  }
  ASSERT_FALSE(values.empty());

  std::size_t queries = 0;
  for (simdjson::dom::element panel : dashboard["panels"]) {
    std::string_view title;
    ASSERT_EQ(panel["title"].get(title), simdjson::SUCCESS);
    simdjson::dom::array targets;
    if (panel["targets"].get(targets) != simdjson::SUCCESS) continue;
    for (simdjson::dom::element target : targets) {
      std::string_view expr_view;
      ASSERT_EQ(target["expr"].get(expr_view), simdjson::SUCCESS) << title;
      std::string expr(expr_view);
      for (const auto& [name, value] : values) {
        for (const std::string& reference : {"${" + name + "}", "$" + name}) {
          for (std::size_t at; (at = expr.find(reference)) != std::string::npos;) {
            expr.replace(at, reference.size(), value);
          }
        }
      }
      ++queries;
      std::string answer;
      EXPECT_TRUE(wait_until(
          [&] {
            answer = prometheus.query(expr);
            const auto samples = samples_of(answer);
            return samples && !samples->empty();
          },
          std::chrono::seconds(10), "it answers", std::chrono::milliseconds(500)))
          << title << ": " << expr << "\nlast answer: " << answer;
    }
  }
  EXPECT_GT(queries, 20u);
}

// The value of the unlabelled sample `name` in a scrape; -1 when there is none.
double gauge(const std::string& text, const std::string& name) {
  const std::size_t at = text.find("\n" + name + " ");
  return at == std::string::npos ? -1 : std::stod(text.substr(at + name.size() + 2));
}

TEST_F(MetricsE2eTest, TheBuildInfoNamesThisBuild) {
  const std::string text = scrape();
  const std::size_t at = text.find("\ntally_build_info{");
  ASSERT_NE(at, std::string::npos) << text;
  const std::string line = text.substr(at + 1, text.find('\n', at + 1) - at - 1);
  ASSERT_FALSE(base::revision().empty());
  EXPECT_NE(line.find("version=\"" + std::string(base::version()) + "\""), std::string::npos)
      << line;
  EXPECT_NE(line.find("revision=\"" + std::string(base::revision()) + "\""), std::string::npos)
      << line;
  EXPECT_TRUE(line.ends_with("} 1")) << line;
}

// The gauges count what is open now: keep-alive connections, tally streams and a large body
// being read, each rising as they open and falling as they close; their limits are the flags'.
TEST(ServerGauges, FollowOpenConnectionsStreamsAndBodiesBesideTheirLimits) {
  TallydProcess server;
  ASSERT_TRUE(server.start({"--demo", "--max-connections", "50", "--max-tally-streams", "7",
                            "--max-inflight-body-bytes", "4194304"}))
      << server.log();
  HttpClient scraper(server.port());  // one keep-alive connection for every scrape
  auto scrape = [&scraper] {
    const HttpAnswer answer = scraper.request("GET", "/metrics");
    EXPECT_EQ(answer.status, 200);
    return answer.body;
  };
  auto reaches = [&scrape](const std::string& name, double value) {
    std::string text;
    return wait_until([&] { return gauge(text = scrape(), name) == value; }, kPatience,
                      name + " is " + std::to_string(value), std::chrono::milliseconds(20))
           << "\n"
           << text;
  };
  const std::string limits = scrape();
  EXPECT_EQ(gauge(limits, "tally_http_max_connections"), 50) << limits;
  EXPECT_EQ(gauge(limits, "tally_stream_max_connections"), 7);
  EXPECT_EQ(gauge(limits, "tally_http_max_inflight_body_bytes"), 4194304);
  EXPECT_TRUE(reaches("tally_http_connections", 1));  // the scraper's

  constexpr int kOpen = 6;
  {
    std::vector<std::unique_ptr<HttpClient>> clients;
    for (int i = 0; i < kOpen; ++i) {
      clients.push_back(std::make_unique<HttpClient>(server.port()));
      ASSERT_EQ(clients.back()->request("GET", "/healthz").status, 200);  // accepted, kept alive
    }
    EXPECT_TRUE(reaches("tally_http_connections", kOpen + 1));
  }
  EXPECT_TRUE(reaches("tally_http_connections", 1));

  {
    const std::string target = std::string("/v1/campaigns/") + kDemo + "/tally/stream";
    SseClient first(server.port(), target);
    SseClient second(server.port(), target);
    ASSERT_EQ(first.read_head(), 200);
    ASSERT_EQ(second.read_head(), 200);
    EXPECT_TRUE(reaches("tally_stream_connections", 2));
    EXPECT_TRUE(reaches("tally_http_connections", 3));
  }
  // The server reads nothing from a stream: it finds one closed when a write to it fails (the
  // first write after the close is taken by the kernel), so votes keep tally events coming.
  int voter = 0;
  std::string text;
  EXPECT_TRUE(wait_until(
      [&] {
        const std::string ballot_json = ballot("c01", "quinn-" + std::to_string(voter++));
        EXPECT_EQ(scraper.request("POST", "/v1/votes", ballot_json, server.ingest_token()).status,
                  200);
        return gauge(text = scrape(), "tally_stream_connections") == 0;
      },
      kPatience, "tally_stream_connections is 0", std::chrono::milliseconds(100)))
      << text;

  {
    // A batch's headers and the start of its body: its declared length is held until it ends.
    HttpClient batch(server.port());
    ASSERT_TRUE(
        batch.send_raw("POST /v1/votes:batch HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer " +
                       server.ingest_token() +
                       "\r\nContent-Type: application/x-ndjson\r\nContent-Length: 100000"
                       "\r\n\r\n{\"campaign\""));
    EXPECT_TRUE(reaches("tally_http_inflight_body_bytes", 100000));
  }
  EXPECT_TRUE(reaches("tally_http_inflight_body_bytes", 0));
}

TEST_F(MetricsE2eTest, TallyStreamFollowsVotesAndResumesFromLastEventId) {
  const std::string target = std::string("/v1/campaigns/") + kDemo + "/tally/stream";
  SseClient stream(server_.port(), target);
  ASSERT_EQ(stream.read_head(), 200);
  EXPECT_NE(stream.head().find("text/event-stream"), std::string::npos);
  const auto first = stream.next_tally();
  ASSERT_TRUE(first);
  EXPECT_EQ(votes_of(first->data, "c04"), 0) << first->data;
  const std::string first_id = first->id;

  vote("c04", "gina");
  const auto second = stream.next_tally();
  ASSERT_TRUE(second);
  EXPECT_EQ(votes_of(second->data, "c04"), 1) << second->data;
  EXPECT_GT(std::stoull(second->id), std::stoull(first_id));
  EXPECT_NE(second->data.find("\"as_of_seq\":" + second->id), std::string::npos);

  // A client that saw only the first event gets the current tally at once on reconnecting.
  SseClient behind(server_.port(), target, "Last-Event-ID: " + first_id + "\r\n");
  ASSERT_EQ(behind.read_head(), 200);
  const auto caught_up = behind.next_tally();
  ASSERT_TRUE(caught_up);
  EXPECT_EQ(caught_up->id, second->id);

  // A client that is up to date gets the next change, not a repeat.
  SseClient current(server_.port(), target, "Last-Event-ID: " + second->id + "\r\n");
  ASSERT_EQ(current.read_head(), 200);
  vote("c04", "hank");
  const auto third = current.next_tally();
  ASSERT_TRUE(third);
  EXPECT_GT(std::stoull(third->id), std::stoull(second->id));
  EXPECT_EQ(votes_of(third->data, "c04"), 2) << third->data;

  // Unknown campaigns are refused with the usual answer.
  SseClient unknown(server_.port(), "/v1/campaigns/no-such/tally/stream");
  EXPECT_EQ(unknown.read_head(), 404);
}

TEST_F(MetricsE2eTest, TallyStreamsEndCleanlyOnSigterm) {
  SseClient stream(server_.port(), std::string("/v1/campaigns/") + kDemo + "/tally/stream");
  ASSERT_EQ(stream.read_head(), 200);
  ASSERT_TRUE(stream.next_tally());
  EXPECT_EQ(server_.stop(SIGTERM), 0) << server_.log();
  EXPECT_FALSE(stream.next_tally());  // the server closed the stream
}

TEST(TallyStreamLimit, StreamsOverTheLimitAre503) {
  TallydProcess server;
  ASSERT_TRUE(server.start({"--demo", "--max-tally-streams", "1"})) << server.log();
  const std::string target = std::string("/v1/campaigns/") + kDemo + "/tally/stream";
  SseClient first(server.port(), target);
  ASSERT_EQ(first.read_head(), 200);
  SseClient second(server.port(), target);
  EXPECT_EQ(second.read_head(), 503);
  EXPECT_NE(second.head().find("Retry-After"), std::string::npos);
}

// Headless Chromium with a profile of its own under `dir`, pages given `budget_ms` of virtual
// time (their clock and timers run on it, faster than the wall clock while they wait).
std::string chromium_command(const std::filesystem::path& dir, int budget_ms = 5'000) {
  return "timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run "
         "--disable-background-networking --disable-component-update --disable-sync "
         "--disable-dev-shm-usage --user-data-dir=" +
         (dir / "chromium").string() + " --virtual-time-budget=" + std::to_string(budget_ms) + " ";
}

TEST_F(MetricsE2eTest, DashboardShowsPostedVotesInHeadlessChromium) {
  ASSERT_TRUE(have_tool("chromium")) << "chromium missing: run scripts/install-deps.sh";
  vote("c09", "ivan");
  vote("c09", "judy");
  vote("c11", "ivan");
  const std::string url =
      "http://127.0.0.1:" + std::to_string(server_.port()) + "/?campaign=" + kDemo + "&stream=0";
  const std::string chromium = chromium_command(server_.dir());
  const CommandResult dom = run(chromium + "--dump-dom '" + url + "' 2>/dev/null");
  ASSERT_EQ(dom.code, 0) << dom.out;
  EXPECT_NE(dom.out.find(R"(data-candidate="c09" data-votes="2")"), std::string::npos) << dom.out;
  EXPECT_NE(dom.out.find(R"(data-candidate="c11" data-votes="1")"), std::string::npos);
  EXPECT_NE(dom.out.find(R"(data-status="accepted")"), std::string::npos);
  EXPECT_NE(dom.out.find("实时排行"), std::string::npos);  // Chinese campaign, Chinese labels
  EXPECT_NE(dom.out.find(R"(data-available="true")"), std::string::npos);  // the fraud panel
  // The signed checkpoint the tally was counted at, its root whole in the title.
  HttpClient client(server_.port());
  const HttpAnswer checkpoint = client.request("GET", "/v1/log/checkpoint");
  ASSERT_EQ(checkpoint.status, 200);
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_EQ(parser.parse(checkpoint.body).get(doc), simdjson::SUCCESS);
  const std::string root(doc["root"].get_string().value());
  EXPECT_NE(
      dom.out.find(R"(id="log-size">)" + std::to_string(doc["size"].get_uint64().value()) + "<"),
      std::string::npos)
      << dom.out;
  EXPECT_NE(dom.out.find(R"(title=")" + root + R"(")"), std::string::npos) << root;
  EXPECT_NE(dom.out.find("公开日志"), std::string::npos);
}

// The history's samples: (t_ms, total) oldest first; empty when the answer is not a history.
std::vector<std::pair<long long, long long>> history_of(int port) {
  HttpClient client(port);
  const HttpAnswer answer =
      client.request("GET", std::string("/v1/campaigns/") + kDemo + "/history");
  std::vector<std::pair<long long, long long>> out;
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (answer.status != 200 || parser.parse(answer.body).get(doc) != simdjson::SUCCESS) return out;
  simdjson::dom::array samples;
  if (doc["samples"].get(samples) != simdjson::SUCCESS) return out;
  for (simdjson::dom::element sample : samples) {
    out.emplace_back(sample["t_ms"].get_int64().value(), sample["total"].get_int64().value());
  }
  return out;
}

TEST_F(MetricsE2eTest, TallyHistoryHoldsTheServersSamplesOldestFirst) {
  HttpClient client(server_.port());
  EXPECT_EQ(client.request("GET", "/v1/campaigns/no-such/history").status, 404);
  vote("c03", "lena");
  vote("c04", "lena");
  std::vector<std::pair<long long, long long>> samples;
  ASSERT_TRUE(wait_until(
      [&] {
        samples = history_of(server_.port());
        return !samples.empty() && samples.back().second == 2;
      },
      kPatience, "a sample counts both votes", std::chrono::milliseconds(200)));
  for (std::size_t i = 1; i < samples.size(); ++i) {
    EXPECT_LT(samples[i - 1].first, samples[i].first) << i;
    EXPECT_LE(samples[i - 1].second, samples[i].second) << i;
  }
  const HttpAnswer answer =
      client.request("GET", std::string("/v1/campaigns/") + kDemo + "/history");
  EXPECT_EQ(number_of(answer.body, "interval_ms"), 5'000) << answer.body;
}

// The number as the dashboard writes it: 142,212.
std::string grouped(long long n) {
  std::string digits = std::to_string(n);
  for (int at = static_cast<int>(digits.size()) - 3; at > 0; at -= 3) digits.insert(at, ",");
  return digits;
}

// A ballot line with the fields a WeChat frontend sends.
std::string full_ballot(const std::string& candidate, const std::string& voter,
                        const std::string& device, const std::string& ip, std::string_view ua) {
  std::string line = R"({"campaign":")" + std::string(kDemo) + R"(","candidate":")" + candidate +
                     R"(","voter":")" + voter + R"(","device":")" + device + R"(","ip":")" + ip +
                     R"(","ua":)";
  append_json_string(line, ua);
  return line + "}\n";
}

// An evening of the campaign in rounds, for the dashboard: an honest crowd (a phone of its own
// each, real WeChat agents, one to three candidates each, favourites first) and, from the third
// round on, a farm for c20 (ten emulator devices with a dozen accounts each, four addresses of
// one /24, one copied agent). After each round it waits for the server's next sample, so that
// the history holds rounds of different rates. Returns the ballots accepted.
long long post_evening(int port, const std::string& token) {
  std::mt19937_64 random(20230327);  // fixed: the same evening every run
  std::vector<std::string_view> agents;
  for (const auto& sample : corpus::real_user_agents()) {
    if (corpus::is_honest(sample.kind)) agents.push_back(sample.agent);
  }
  const std::string_view farm_agent = agents.front();
  std::discrete_distribution<int> favourite(
      {30, 22, 17, 14, 12, 10, 9, 8, 7, 7, 6, 6, 5, 5, 4, 4, 4, 3, 3, 2});
  long long accepted = 0;
  int voter = 0;
  int farm_account = 0;
  const int honest_per_round[] = {500, 800, 400, 700, 300};
  const int farm_per_round[] = {0, 0, 160, 240, 80};
  for (int round = 0; round < 5; ++round) {
    std::string batch;
    for (int i = 0; i < honest_per_round[round]; ++i, ++voter) {
      const std::string id = "wx-" + std::to_string(voter);
      const std::string ip = "10." + std::to_string(random() % 200) + "." +
                             std::to_string(random() % 250) + "." +
                             std::to_string(1 + random() % 250);
      const std::string ua = corpus::with_install_number(agents[random() % agents.size()], voter);
      std::set<int> chosen;
      const int wanted = 1 + static_cast<int>(random() % 3);
      while (static_cast<int>(chosen.size()) < wanted) chosen.insert(favourite(random) + 1);
      for (const int c : chosen) {
        batch += full_ballot((c < 10 ? "c0" : "c") + std::to_string(c), id, "d-" + id, ip, ua);
      }
    }
    for (int i = 0; i < farm_per_round[round]; ++i, ++farm_account) {
      batch += full_ballot("c20", "farm-" + std::to_string(farm_account),
                           "emulator-" + std::to_string(farm_account % 10),
                           "203.0.113." + std::to_string(10 + farm_account % 4), farm_agent);
    }
    HttpClient client(port, 60'000);
    const HttpAnswer answer = client.request("POST", "/v1/votes:batch", batch, token);
    EXPECT_EQ(answer.status, 200) << answer.body.substr(0, 300);
    std::size_t at = 0;
    while ((at = answer.body.find(R"("status":"accepted")", at)) != std::string::npos) {
      ++accepted;
      ++at;
    }
    EXPECT_TRUE(wait_until(
        [&] {
          const auto samples = history_of(port);
          return !samples.empty() && samples.back().second == accepted;
        },
        kPatience, "a sample of round " + std::to_string(round), std::chrono::milliseconds(200)));
  }
  return accepted;
}

// What the page's body says about itself: data-NAME="VALUE", or "" when absent.
std::string attribute(const std::string& html, const std::string& element_marker,
                      const std::string& name) {
  const std::size_t at = html.find(element_marker);
  if (at == std::string::npos) return {};
  const std::size_t end = html.find('>', at);
  const std::string tag = html.substr(at, end - at);
  const std::string marker = " " + name + "=\"";
  const std::size_t value = tag.find(marker);
  if (value == std::string::npos) return {};
  const std::size_t begin = value + marker.size();
  return tag.substr(begin, tag.find('"', begin) - begin);
}

// An operator's view on a laptop and on a phone: the leaderboard with grouped numbers and each
// candidate's concentration, votes per second from samples the server took before the page
// opened, alerts as sentences with local times and candidates' names, the campaign's state and
// window, the time of the last update, and nothing wider than the window.
TEST_F(MetricsE2eTest, DashboardServesAnOperatorOnALaptopAndAPhone) {
  ASSERT_TRUE(have_tool("chromium")) << "chromium missing: run scripts/install-deps.sh";
  const long long accepted = post_evening(server_.port(), server_.ingest_token());
  ASSERT_GT(accepted, 1000);
  HttpClient client(server_.port());
  const std::string tally =
      client.request("GET", std::string("/v1/campaigns/") + kDemo + "/tally").body;
  const long long total = number_of(tally, "total");
  ASSERT_EQ(total, accepted);
  const std::string fraud =
      client.request("GET", std::string("/v1/campaigns/") + kDemo + "/fraud").body;
  ASSERT_NE(fraud.find(R"("reason":"device_multi_account")"), std::string::npos) << fraud;
  // The committee voids the farm's /24 and withdraws a candidate (DESIGN.md "Adjudication").
  const std::string decisions = std::string("/v1/campaigns/") + kDemo + "/decisions";
  const HttpAnswer voided = client.request(
      "POST", decisions,
      R"({"action":"void","author":"评审委员会","reason":"同一网段的模拟器账号集中投票",)"
      R"("scope":"subnet","key":"203.0.113.0/24"})",
      server_.admin_token());
  ASSERT_EQ(voided.status, 201) << voided.body;
  const HttpAnswer withdrawn = client.request(
      "POST", decisions,
      R"({"action":"disqualify","author":"评审委员会","reason":"申报材料不实","candidate":"c19"})",
      server_.admin_token());
  ASSERT_EQ(withdrawn.status, 201) << withdrawn.body;
  ASSERT_TRUE(wait_until(
      [&] {
        const std::string now =
            client.request("GET", std::string("/v1/campaigns/") + kDemo + "/tally").body;
        return number_of(now, "void") > 0 &&
               now.find(R"("disqualified":true)") != std::string::npos;
      },
      kPatience, "the tally counts both decisions", std::chrono::milliseconds(100)));
  const std::string accepted_answers = std::to_string(
      static_cast<long long>(gauge(scrape(), R"(tally_ingest_requests_total{status="accepted"})")));
  const long long opened_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                  std::chrono::system_clock::now().time_since_epoch())
                                  .count();

  // Polling rather than the stream: a page with a stream open never finishes loading, so
  // Chromium would not take its screenshot.
  const std::string url =
      "http://127.0.0.1:" + std::to_string(server_.port()) + "/?campaign=" + kDemo + "&stream=0";
  const std::string chromium = chromium_command(server_.dir());
  const char* keep_dir = std::getenv("TALLY_DASHBOARD_IMG_DIR");
  for (const int width : {1280, 390}) {
    SCOPED_TRACE(std::to_string(width) + " px wide");
    const std::string size = std::to_string(width) + ",2000";
    const CommandResult dom =
        run(chromium + "--window-size=" + size + " --dump-dom '" + url + "' 2>/dev/null");
    ASSERT_EQ(dom.code, 0) << dom.out;
    const std::string& html = dom.out;
    // Numbers grouped by thousands.
    EXPECT_NE(html.find(R"(id="total">)" + grouped(total) + "<"), std::string::npos) << html;
    EXPECT_NE(html.find(R"(<td class="n">)" + grouped(std::stoll(accepted_answers)) + "<"),
              std::string::npos);
    // c20's row: the farm's share of its votes from its top addresses, as a percentage.
    const std::string c20 = R"(data-candidate="c20")";
    const std::string share = attribute(html, c20, "data-concentration");
    ASSERT_FALSE(share.empty()) << html;
    EXPECT_GT(std::stod(share), 0.5);
    EXPECT_TRUE(
        std::regex_search(html.substr(html.find(c20), 2000),
                          std::regex(R"(class="conc warn"[^>]*>(<small>[^<]*</small>)?[0-9.]+%<)")))
        << html.substr(html.find(c20), 2000);
    // Votes per second from samples the server took before the page opened.
    const std::string samples = attribute(html, R"(id="rate")", "data-samples");
    ASSERT_FALSE(samples.empty()) << html;
    EXPECT_GE(std::stoi(samples), 5);
    EXPECT_LT(std::stoll(attribute(html, R"(id="rate")", "data-oldest-ms")), opened_ms);
    EXPECT_GT(std::stod(attribute(html, R"(id="rate")", "data-peak")), 0);
    // Alerts as sentences with a local time and the candidate's name, not JSON.
    EXPECT_NE(html.find(R"(data-reason="device_multi_account")"), std::string::npos) << html;
    EXPECT_NE(html.find("个不同账号用来投票（「候选人20」等）"), std::string::npos);
    EXPECT_TRUE(std::regex_search(
        html, std::regex(R"re(<li class="alert" data-reason="[a-z_]+"><time datetime="[^"]+">)re"
                         R"re([0-9]{2}:[0-9]{2}:[0-9]{2}</time>)re")));
    EXPECT_EQ(html.find("at_ms"), std::string::npos);
    EXPECT_EQ(html.find("{&quot;"), std::string::npos);
    // The campaign's state and window, and when the page was last updated.
    EXPECT_NE(html.find(R"(data-state="open">进行中<)"), std::string::npos);
    EXPECT_TRUE(std::regex_search(html, std::regex(R"(id="window">[^<]+ – [^<]+<)")));
    EXPECT_TRUE(std::regex_search(html, std::regex(R"(id="countdown"[^>]*>距结束 [^<]+<)")));
    EXPECT_TRUE(std::regex_search(html, std::regex(R"(id="updated"[^>]*>更新于 [0-9:]+)")));
    // Ranked by valid votes, the withdrawn candidate apart, the decisions in sentences.
    EXPECT_EQ(attribute(html, c20, "data-valid"),
              std::to_string(std::stoll(attribute(html, c20, "data-votes")) - 480));
    const std::size_t out = html.find(R"(<ol id="disqualified")");
    ASSERT_NE(out, std::string::npos);
    EXPECT_NE(html.find(R"(data-candidate="c19")", out), std::string::npos);
    EXPECT_EQ(attribute(html, R"(data-candidate="c19")", "data-rank"), "0");
    EXPECT_NE(html.find(R"(id="decisions-card" data-available="true")"), std::string::npos);
    EXPECT_TRUE(
        std::regex_search(html, std::regex(R"(作废 480 张选票（网段 203\.0\.113\.0/24）)")));
    EXPECT_NE(html.find("取消「候选人19」的资格"), std::string::npos);
    // Nothing sticks out sideways.
    EXPECT_EQ(attribute(html, "<body", "data-overflow"), "false")
        << attribute(html, "<body", "data-overflowing");

    // The screenshot shows the whole page: its window as tall as the page said it is.
    const std::string height = attribute(html, "<body", "data-height");
    ASSERT_FALSE(height.empty());
    const auto png = server_.dir() / ("dashboard-" + std::to_string(width) + ".png");
    const CommandResult shot =
        run(chromium + "--window-size=" + std::to_string(width) + "," + height +
            " --screenshot=" + png.string() + " '" + url + "' 2>/dev/null");
    ASSERT_EQ(shot.code, 0) << shot.out;
    const std::string bytes = read_text(png);
    ASSERT_GT(bytes.size(), 1000u);
    EXPECT_EQ(bytes.substr(1, 3), "PNG");
    // TALLY_DASHBOARD_IMG_DIR=docs/img keeps the screenshots (docs/img/dashboard-*.png).
    if (keep_dir != nullptr) {
      std::filesystem::copy_file(png, std::filesystem::path(keep_dir) / png.filename(),
                                 std::filesystem::copy_options::overwrite_existing);
    }
  }
}

// The campaign's state is worked out again every second: a page open when the window closes
// turns from open to closed without a reload.
TEST_F(MetricsE2eTest, DashboardTurnsTheCampaignClosedWhenItsWindowEnds) {
  ASSERT_TRUE(have_tool("chromium")) << "chromium missing: run scripts/install-deps.sh";
  // Closes 16 s from now (whole seconds), long after the page has opened; the page's 30 s of
  // virtual time run past it.
  const auto closes = std::chrono::system_clock::now() + std::chrono::seconds(16);
  const std::time_t closes_s = std::chrono::system_clock::to_time_t(closes);
  std::tm utc{};
  ::gmtime_r(&closes_s, &utc);
  char closes_at[32];
  std::strftime(closes_at, sizeof closes_at, "%Y-%m-%dT%H:%M:%S+00:00", &utc);
  const std::string campaign =
      R"({"id":"closing-soon","title":"Closing soon","opens_at":"2020-01-01T00:00:00+00:00",)"
      R"("closes_at":")" +
      std::string(closes_at) +
      R"(","utc_offset":"+00:00","rules":{"period":"campaign","max_votes_per_candidate":1,)"
      R"("max_candidates":1},"candidates":[{"id":"a","name":"Ada"},{"id":"b","name":"Bo"}]})";
  HttpClient client(server_.port());
  ASSERT_EQ(
      client.request("PUT", "/v1/campaigns/closing-soon", campaign, server_.admin_token()).status,
      201);
  const std::string url =
      "http://127.0.0.1:" + std::to_string(server_.port()) + "/?campaign=closing-soon&stream=0";
  const CommandResult dom =
      run(chromium_command(server_.dir(), 30'000) + "--dump-dom '" + url + "' 2>/dev/null");
  ASSERT_EQ(dom.code, 0) << dom.out;
  EXPECT_NE(dom.out.find(R"(data-state="closed" data-from="open">closed<)"), std::string::npos)
      << dom.out;
  EXPECT_TRUE(std::regex_search(dom.out, std::regex(R"(id="countdown"[^>]*>[0-9:]+ ago<)")));
}

// Under --protect-reads the page loads (its files hold no data), asks for a token, and with
// one (here in the URL's fragment) reads the tally, the metrics, the fraud view and, since
// EventSource cannot send the token, the stream through fetch.
TEST(DashboardProtectedReads, AsksForATokenAndReadsWithOne) {
  ASSERT_TRUE(have_tool("chromium")) << "chromium missing: run scripts/install-deps.sh";
  TallydProcess server;
  ASSERT_TRUE(server.start({"--demo", "--protect-reads"})) << server.log();
  HttpClient client(server.port());
  ASSERT_EQ(client.request("POST", "/v1/votes", ballot("c04", "kim"), server.ingest_token()).status,
            200);
  const std::string page =
      "http://127.0.0.1:" + std::to_string(server.port()) + "/?campaign=" + kDemo;
  const std::string chromium = chromium_command(server.dir());

  const CommandResult without = run(chromium + "--dump-dom '" + page + "&stream=0' 2>/dev/null");
  ASSERT_EQ(without.code, 0) << without.out;
  EXPECT_NE(without.out.find(R"(data-auth="needed")"), std::string::npos) << without.out;
  EXPECT_EQ(without.out.find("data-candidate="), std::string::npos);

  // A token the server refuses is dropped and asked for again.
  const CommandResult wrong =
      run(chromium + "--dump-dom '" + page + "&stream=0#token=not-a-valid-token' 2>/dev/null");
  ASSERT_EQ(wrong.code, 0) << wrong.out;
  EXPECT_NE(wrong.out.find(R"(data-auth="needed")"), std::string::npos) << wrong.out;
  EXPECT_EQ(wrong.out.find("data-candidate="), std::string::npos);

  const std::string fragment = "#token=" + server.ingest_token();
  const CommandResult polled =
      run(chromium + "--dump-dom '" + page + "&stream=0" + fragment + "' 2>/dev/null");
  ASSERT_EQ(polled.code, 0) << polled.out;
  EXPECT_NE(polled.out.find(R"(data-auth="given")"), std::string::npos) << polled.out;
  EXPECT_NE(polled.out.find(R"(data-candidate="c04" data-votes="1")"), std::string::npos);
  EXPECT_NE(polled.out.find(R"(data-status="accepted")"), std::string::npos);
  EXPECT_NE(polled.out.find(R"(data-available="true")"), std::string::npos);

  const CommandResult streamed = run(chromium + "--dump-dom '" + page + fragment + "' 2>/dev/null");
  ASSERT_EQ(streamed.code, 0) << streamed.out;
  EXPECT_NE(streamed.out.find(R"(class="live on")"), std::string::npos) << streamed.out;
  EXPECT_NE(streamed.out.find(R"(data-candidate="c04" data-votes="1")"), std::string::npos);
}

}  // namespace
}  // namespace tally::testing
