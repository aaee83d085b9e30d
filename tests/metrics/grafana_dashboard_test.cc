// Structural checks of deploy/grafana: the dashboard reads every panel from its `datasource`
// variable (a file-provisioned dashboard cannot use import-time inputs), every panel has a
// unit, candidate panels join names to ids, and the provisioning files say what Grafana needs.
// Grafana is not in Debian 12, so the files are checked here and every panel's query is
// evaluated against a real Prometheus server by metrics_e2e_test.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <cstdio>
#include <functional>
#include <regex>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tallyd_process.h"

namespace tally::testing {
namespace {

namespace dom = simdjson::dom;

std::string source_dir() {
  const char* dir = std::getenv("TALLY_SOURCE_DIR");
  return dir ? dir : ".";
}

// The string at `element`; "" when it is missing or not a string.
std::string string_of(simdjson::simdjson_result<dom::element> element) {
  std::string_view text;
  return element.get_string().get(text) == simdjson::SUCCESS ? std::string(text) : std::string();
}
std::string string_of(dom::element element) {
  return string_of(simdjson::simdjson_result<dom::element>(std::move(element)));
}

// Calls `visit` on every object member of `element` and below, with its key.
void walk(dom::element element, const std::function<void(std::string_view, dom::element)>& visit) {
  if (element.is_object()) {
    for (auto [key, value] : dom::object(element)) {
      visit(key, value);
      walk(value, visit);
    }
  } else if (element.is_array()) {
    for (dom::element value : dom::array(element)) walk(value, visit);
  }
}

class GrafanaDashboard : public ::testing::Test {
 protected:
  void SetUp() override {
    text_ =
        simdjson::padded_string(read_text(source_dir() + "/deploy/grafana/tally-dashboard.json"));
    ASSERT_EQ(parser_.parse(text_).get(root_), simdjson::SUCCESS) << "not JSON";
    ASSERT_EQ(root_["panels"].get(panels_), simdjson::SUCCESS);
    ASSERT_GT(panels_.size(), 10u);
    ASSERT_EQ(root_["templating"]["list"].get(variables_), simdjson::SUCCESS);
  }

  // Every query of every panel, with its panel's title.
  struct Target {
    std::string panel;
    std::string expr;
    std::string legend;
  };
  std::vector<Target> targets() const {
    std::vector<Target> out;
    for (dom::element panel : panels_) {
      dom::array list;
      if (panel["targets"].get(list) != simdjson::SUCCESS) continue;
      for (dom::element target : list) {
        out.push_back({string_of(panel["title"]), string_of(target["expr"]),
                       string_of(target["legendFormat"])});
      }
    }
    return out;
  }

  simdjson::padded_string text_;
  dom::parser parser_;
  dom::element root_;
  dom::array panels_;
  dom::array variables_;
};

TEST_F(GrafanaDashboard, EveryDatasourceIsTheDatasourceVariable) {
  bool declared = false;
  for (dom::element variable : variables_) {
    if (string_of(variable["name"]) != "datasource") continue;
    declared = true;
    EXPECT_EQ(string_of(variable["type"]), "datasource");
    EXPECT_EQ(string_of(variable["query"]), "prometheus");
  }
  EXPECT_TRUE(declared) << "no `datasource` variable of type datasource";
  // Import-time inputs (${DS_PROMETHEUS}) fail when the file is provisioned.
  dom::element inputs;
  EXPECT_NE(root_["__inputs"].get(inputs), simdjson::SUCCESS) << "__inputs left in";

  std::size_t references = 0;
  walk(root_, [&](std::string_view key, dom::element value) {
    if (key != "datasource") return;
    ++references;
    if (value.is_string()) {
      EXPECT_EQ(string_of(value), "${datasource}");
      return;
    }
    EXPECT_EQ(string_of(value["uid"]), "${datasource}") << simdjson::minify(value);
    EXPECT_EQ(string_of(value["type"]), "prometheus") << simdjson::minify(value);
  });
  // Each panel and each of its targets names it, and so does every query variable.
  std::size_t expected = 0;
  for (dom::element panel : panels_) {
    dom::element datasource;
    EXPECT_EQ(panel["datasource"].get(datasource), simdjson::SUCCESS) << string_of(panel["title"]);
    ++expected;
    dom::array list;
    if (panel["targets"].get(list) != simdjson::SUCCESS) continue;
    for (dom::element target : list) {
      EXPECT_EQ(target["datasource"].get(datasource), simdjson::SUCCESS)
          << string_of(panel["title"]);
      ++expected;
    }
  }
  for (dom::element variable : variables_) {
    if (string_of(variable["type"]) == "query") ++expected;
  }
  EXPECT_EQ(references, expected);
}

TEST_F(GrafanaDashboard, EveryPanelHasAUnit) {
  // Grafana's unit ids this dashboard may use; a misspelt one is shown as a plain suffix.
  const std::set<std::string> units = {"short", "none",  "ops",     "reqps",      "s",
                                       "ms",    "bytes", "percent", "percentunit"};
  std::set<std::int64_t> ids;
  for (dom::element panel : panels_) {
    const std::string title = string_of(panel["title"]);
    const std::string unit = string_of(panel["fieldConfig"]["defaults"]["unit"]);
    EXPECT_TRUE(units.contains(unit)) << title << ": unit \"" << unit << "\"";
    std::int64_t id = 0;
    EXPECT_EQ(panel["id"].get(id), simdjson::SUCCESS) << title;
    EXPECT_TRUE(ids.insert(id).second) << title << ": id " << id << " used twice";
  }
}

// A panel by candidate shows "name (id)": tally_candidate_info joined on campaign and candidate.
TEST_F(GrafanaDashboard, CandidatePanelsShowNamesBesideIds) {
  std::size_t by_candidate = 0;
  for (const Target& target : targets()) {
    if (target.expr.find("candidate)") == std::string::npos &&
        target.legend.find("{{candidate}}") == std::string::npos) {
      continue;
    }
    ++by_candidate;
    EXPECT_EQ(target.legend, "{{name}} ({{candidate}})") << target.panel;
    EXPECT_NE(target.expr.find("on(campaign, candidate) group_left(name)"), std::string::npos)
        << target.panel << ": " << target.expr;
    EXPECT_NE(target.expr.find("tally_candidate_info"), std::string::npos) << target.panel;
  }
  // The leaderboard, the top 10 (votes and suspect) and the suspect share.
  EXPECT_GE(by_candidate, 4u);
}

TEST_F(GrafanaDashboard, EveryVariableAQueryUsesIsDefined) {
  std::set<std::string> defined;
  for (dom::element variable : variables_) defined.insert(string_of(variable["name"]));
  const std::regex used(R"(\$\{?([A-Za-z_][A-Za-z0-9_]*))");
  std::size_t queries = 0;
  for (const Target& target : targets()) {
    ++queries;
    EXPECT_FALSE(target.expr.empty()) << target.panel;
    for (auto it = std::sregex_iterator(target.expr.begin(), target.expr.end(), used);
         it != std::sregex_iterator(); ++it) {
      EXPECT_TRUE(defined.contains((*it)[1])) << target.panel << " uses $" << (*it)[1];
    }
  }
  EXPECT_GT(queries, panels_.size() - 1);
}

// YAML read by Debian's python3-yaml, handed over as JSON.
std::string yaml_as_json(const std::string& path) {
  const std::string command =
      "python3 -c 'import json, sys, yaml; json.dump(yaml.safe_load(open(sys.argv[1])), "
      "sys.stdout)' " +
      path + " 2>&1";
  std::string out;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return out;
  char chunk[4096];
  std::size_t got;
  while ((got = std::fread(chunk, 1, sizeof chunk, pipe)) > 0) out.append(chunk, got);
  return ::pclose(pipe) == 0 ? out : "python3 failed: " + out;
}

TEST(GrafanaProvisioning, AFileProviderLoadsTheDashboardsFolder) {
  const std::string json =
      yaml_as_json(source_dir() + "/deploy/grafana/provisioning/dashboards/tally.yaml");
  dom::parser parser;
  dom::element root;
  ASSERT_EQ(parser.parse(json).get(root), simdjson::SUCCESS) << json;
  std::int64_t version = 0;
  EXPECT_EQ(root["apiVersion"].get(version), simdjson::SUCCESS);
  EXPECT_EQ(version, 1);
  dom::array providers;
  ASSERT_EQ(root["providers"].get(providers), simdjson::SUCCESS) << json;
  ASSERT_EQ(providers.size(), 1u);
  dom::element provider = providers.at(0);
  EXPECT_EQ(string_of(provider["type"]), "file");
  EXPECT_FALSE(string_of(provider["name"]).empty());
  EXPECT_TRUE(string_of(provider["options"]["path"]).starts_with("/")) << json;
}

TEST(GrafanaProvisioning, APrometheusDatasourceIsTheDefault) {
  const std::string json =
      yaml_as_json(source_dir() + "/deploy/grafana/provisioning/datasources/prometheus.yaml");
  dom::parser parser;
  dom::element root;
  ASSERT_EQ(parser.parse(json).get(root), simdjson::SUCCESS) << json;
  std::int64_t version = 0;
  EXPECT_EQ(root["apiVersion"].get(version), simdjson::SUCCESS);
  EXPECT_EQ(version, 1);
  dom::array datasources;
  ASSERT_EQ(root["datasources"].get(datasources), simdjson::SUCCESS) << json;
  ASSERT_EQ(datasources.size(), 1u);
  dom::element datasource = datasources.at(0);
  // The type the dashboard's datasource variable lists.
  EXPECT_EQ(string_of(datasource["type"]), "prometheus");
  EXPECT_TRUE(string_of(datasource["url"]).starts_with("http")) << json;
  bool is_default = false;
  EXPECT_EQ(datasource["isDefault"].get(is_default), simdjson::SUCCESS);
  EXPECT_TRUE(is_default);
}

}  // namespace
}  // namespace tally::testing
