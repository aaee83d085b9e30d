// Real user agents, as WeChat and its neighbours send them and as scripts and headless browsers
// do: the corpus that the tests, the end-to-end runs and tally-loadgen's honest crowd use, so
// that no limit or signal is checked only against shortened or invented agents. Each entry
// names the client and where it was seen (loadtest/src/user_agents.cc).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace tally::corpus {

enum class AgentKind : std::uint8_t {
  // Honest: people voting from WeChat and its relatives.
  wechat_ios,      // WeChat's in-app browser on an iPhone or iPad
  wechat_android,  // WeChat's in-app browser (XWEB / X5) on an Android phone
  wechat_windows,  // WeChat for Windows
  wechat_mac,      // WeChat for macOS
  mini_program,    // a mini-program's web view (miniProgram / MiniProgramEnv)
  wecom,           // WeCom (企业微信, wxwork)
  // Not a person at a phone: what the fraud signals must flag as bot_ua.
  scripted,  // HTTP libraries and command-line tools
  headless,  // headless or automated browsers
};

struct UserAgentSample {
  AgentKind kind;
  std::string_view client;  // e.g. "WeChat 8.0.34 on vivo V2199A, Android 13"
  std::string_view agent;   // the User-Agent exactly as sent
};

constexpr bool is_honest(AgentKind kind) { return kind < AgentKind::scripted; }

std::span<const UserAgentSample> real_user_agents();

// `agent` as another install of the same WeChat sends it: WeChat on Android names the install
// in `MMWEBID/<digits>`, which becomes `install`. An agent without one comes back unchanged.
std::string with_install_number(std::string_view agent, std::uint64_t install);

}  // namespace tally::corpus
