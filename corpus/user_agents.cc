// The corpus of real user agents (see tally/corpus/user_agents.h). Each agent is copied
// byte for byte from where the comment above it says it was seen; none is shortened.
#include "tally/corpus/user_agents.h"

#include <iterator>
#include <string>

namespace tally::corpus {
namespace {

constexpr UserAgentSample kSamples[] = {
    // the campaign's own report: WeChat on a vivo phone
    {AgentKind::wechat_android, "WeChat 8.0.34 on vivo V2199A, Android 13",
     "Mozilla/5.0 (Linux; Android 13; V2199A Build/TP1A.220624.014; wv) AppleWebKit/537.36 (KHTML, "
     "like Gecko) Version/4.0 Chrome/107.0.5304.141 Mobile Safari/537.36 XWEB/5023 "
     "MMWEBSDK/20230303 MMWEBID/4356 MicroMessenger/8.0.34.2340(0x2800225D) WeChat/arm64 Weixin "
     "NetType/WIFI Language/zh_CN ABI/arm64"},
    // github.com/MoLing-Dong/ScriptsForQinglong Js/utils/common.js
    {AgentKind::wechat_android, "WeChat 8.0.49 on vivo V2148A, Android 13",
     "Mozilla/5.0 (Linux; Android 13; V2148A Build/TP1A.220624.014; wv) AppleWebKit/537.36 (KHTML, "
     "like Gecko) Version/4.0 Chrome/116.0.0.0 Mobile Safari/537.36 XWEB/1160117 MMWEBSDK/20240404 "
     "MMWEBID/8833 MicroMessenger/8.0.49.2600(0x28003137) WeChat/arm64 Weixin NetType/WIFI "
     "Language/zh_CN ABI/arm64"},
    // github.com/MoLing-Dong/ScriptsForQinglong Js/utils/common.js
    {AgentKind::wechat_android, "WeChat 8.0.47 on vivo V2338A, Android 14, XWEB 1160083",
     "Mozilla/5.0 (Linux; Android 14; V2338A Build/UP1A.231005.007; wv) AppleWebKit/537.36 (KHTML, "
     "like Gecko) Version/4.0 Chrome/116.0.0.0 Mobile Safari/537.36 XWEB/1160083 MMWEBSDK/20231202 "
     "MMWEBID/4013 MicroMessenger/8.0.47.2560(0x28002F51) WeChat/arm64 Weixin NetType/WIFI "
     "Language/zh_CN ABI/arm64"},
    // github.com/MoLing-Dong/ScriptsForQinglong Js/utils/common.js
    {AgentKind::wechat_android, "WeChat 8.0.34 on Redmi 23049RAD8C, Android 13",
     "Mozilla/5.0 (Linux; Android 13; 23049RAD8C Build/TKQ1.221114.001; wv) AppleWebKit/537.36 "
     "(KHTML, like Gecko) Version/4.0 Chrome/116.0.0.0 Mobile Safari/537.36 XWEB/1160083 "
     "MMWEBSDK/20230303 MMWEBID/4466 MicroMessenger/8.0.34.2340(0x2800225F) WeChat/arm64 Weixin "
     "NetType/WIFI Language/zh_CN ABI/arm64"},
    // github.com/MoLing-Dong/ScriptsForQinglong Js/utils/common.js
    {AgentKind::wechat_android, "WeChat 8.0.48 on Redmi 22041211AC (K50), Android 14, 5G",
     "Mozilla/5.0 (Linux; Android 14; 22041211AC Build/UP1A.231005.007; wv) AppleWebKit/537.36 "
     "(KHTML, like Gecko) Version/4.0 Chrome/116.0.0.0 Mobile Safari/537.36 XWEB/1160083 "
     "MMWEBSDK/20240301 MMWEBID/1559 MicroMessenger/8.0.48.2580(0x28003039) WeChat/arm64 Weixin "
     "NetType/5G Language/zh_CN ABI/arm64"},
    // github.com/MoLing-Dong/ScriptsForQinglong Js/utils/common.js
    {AgentKind::wechat_android, "WeChat 8.0.48 on OPPO PBEM00, Android 10",
     "Mozilla/5.0 (Linux; Android 10; PBEM00 Build/QKQ1.190918.001; wv) AppleWebKit/537.36 (KHTML, "
     "like Gecko) Version/4.0 Chrome/116.0.0.0 Mobile Safari/537.36 XWEB/1160083 MMWEBSDK/20240301 "
     "MMWEBID/3124 MicroMessenger/8.0.48.2580(0x2800303F) WeChat/arm64 Weixin NetType/WIFI "
     "Language/zh_CN ABI/arm64"},
    // github.com/matomo-org/device-detector Tests/fixtures/smartphone-39.yml
    {AgentKind::wechat_android, "WeChat 8.0.46 on OPPO PHF110, Android 13, 5G",
     "Mozilla/5.0 (Linux; Android 13; PHF110 Build/RKQ1.211119.001; wv) AppleWebKit/537.36 (KHTML, "
     "like Gecko) Version/4.0 Chrome/116.0.0.0 Mobile Safari/537.36 XWEB/1160117 MMWEBSDK/20231202 "
     "MMWEBID/4213 MicroMessenger/8.0.46.2540(0x28002E3C) WeChat/arm64 Weixin NetType/5G "
     "Language/zh_CN ABI/arm64"},
    // github.com/MoLing-Dong/ScriptsForQinglong Js/utils/common.js
    {AgentKind::wechat_android, "WeChat 8.0.49 on OnePlus PJD110, Android 14, 5G",
     "Mozilla/5.0 (Linux; Android 14; PJD110 Build/UKQ1.230924.001; wv) AppleWebKit/537.36 (KHTML, "
     "like Gecko) Version/4.0 Chrome/116.0.0.0 Mobile Safari/537.36 XWEB/1160117 MMWEBSDK/20240404 "
     "MMWEBID/1658 MicroMessenger/8.0.49.2600(0x28003137) WeChat/arm64 Weixin NetType/5G "
     "Language/zh_CN ABI/arm64"},
    // github.com/MoLing-Dong/ScriptsForQinglong Js/utils/common.js
    {AgentKind::wechat_android, "WeChat 8.0.48 on Samsung SM-S9110, Android 14",
     "Mozilla/5.0 (Linux; Android 14; SM-S9110 Build/UP1A.231005.007; wv) AppleWebKit/537.36 "
     "(KHTML, like Gecko) Version/4.0 Chrome/116.0.0.0 Mobile Safari/537.36 XWEB/1160117 "
     "MMWEBSDK/20240301 MMWEBID/8661 MicroMessenger/8.0.48.2580(0x28003052) WeChat/arm64 Weixin "
     "NetType/WIFI Language/zh_CN ABI/arm64"},
    // github.com/matomo-org/device-detector Tests/fixtures/clienthints-app.yml
    {AgentKind::wechat_android, "WeChat 8.0.15 on Samsung SM-G965F, Android 9, Language/en",
     "Mozilla/5.0 (Linux; Android 9; SM-G965F Build/PPR1.180610.011; wv) AppleWebKit/537.36 "
     "(KHTML, like Gecko) Version/4.0 Chrome/78.0.3904.62 XWEB/2889 MMWEBSDK/20210902 Mobile "
     "Safari/537.36 MMWEBID/4096 MicroMessenger/8.0.15.2001(0x28000F41) Process/toolsmp "
     "WeChat/arm64 Weixin GPVersion/1 NetType/WIFI Language/en ABI/arm64"},
    // public code search, a Kotlin OkHttp login request to ykt.baiyunairport.com
    {AgentKind::wechat_android, "WeChat 8.0.33 on Motorola XT2301-5, Android 13",
     "Mozilla/5.0 (Linux; Android 13; XT2301-5 Build/T1TR33.4-30-36; wv) AppleWebKit/537.36 "
     "(KHTML, like Gecko) Version/4.0 Chrome/107.0.5304.141 Mobile Safari/537.36 XWEB/5023 "
     "MMWEBSDK/20230202 MMWEBID/3522 MicroMessenger/8.0.33.2305(0x28002143) WeChat/arm64 Weixin "
     "GPVersion/1 NetType/WIFI Language/zh_CN ABI/arm64"},
    // public code search, a Go user-agent parser's TestParse_WeChat
    {AgentKind::wechat_android, "WeChat 8.0.57 on Huawei ALN-AL00 (Mate 60 Pro), Android 12",
     "Mozilla/5.0 (Linux; Android 12; ALN-AL00 Build/HUAWEIALN-AL00; wv) AppleWebKit/537.36 "
     "(KHTML, like Gecko) Version/4.0 Chrome/134.0.6998.136 Mobile Safari/537.36 XWEB/1340043 "
     "MMWEBSDK/20250201 MMWEBID/783 MicroMessenger/8.0.57.2820(0x2800393F) WeChat/arm64 Weixin "
     "NetType/WIFI Language/zh_CN ABI/arm64"},
    // github.com/matomo-org/device-detector Tests/Parser/fixtures/oss.yml
    {AgentKind::wechat_android,
     "WeChat 8.0.9 (HarmonyOS NEXT build) on a Huawei phone, OpenHarmony 5.1",
     "Mozilla/5.0 (Phone; OpenHarmony 5.1) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/114.0.0.0 "
     "Safari/537.36 ArkWeb/4.1.6.1 Mobile MicroMessenger/8.0.9.39(0xf3100927) Weixin NetType/WIFI "
     "Language/zh_CN MMWEBID/2777 MMWEBSDK/202507060011 XWEB/1140307"},
    // public code search, a Python booking script's headers for gzagwx.wxlgzh.com
    {AgentKind::wechat_android, "WeChat 8.0.53 on Honor FLC-AN00, Android 15, 4G",
     "Mozilla/5.0 (Linux; Android 15; FLC-AN00 Build/HONORFLC-AN00; wv) AppleWebKit/537.36 (KHTML, "
     "like Gecko) Version/4.0 Chrome/130.0.6723.103 Mobile Safari/537.36 XWEB/1300149 "
     "MMWEBSDK/20240802 MMWEBID/3750 MicroMessenger/8.0.53.2740(0x2800353F) WeChat/arm64 Weixin "
     "NetType/4G Language/zh_CN ABI/arm64"},
    // github.com/matomo-org/device-detector Tests/fixtures/smartphone-6.yml
    {AgentKind::wechat_android, "WeChat 7.0.1380 (X5/TBS) on Huawei NXT-AL10, Android 8.0",
     "Mozilla/5.0 (Linux; Android 8.0; HUAWEI NXT-AL10 Build/HUAWEINXT-AL10; wv) "
     "AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/57.0.2987.132 MQQBrowser/6.2 "
     "TBS/044408 Mobile Safari/537.36 MMWEBID/5305 MicroMessenger/7.0.1380(0x2700003A) "
     "Process/tools NetType/WIFI Language/zh_CN"},
    // github.com/MoLing-Dong/ScriptsForQinglong Js/utils/common.js
    {AgentKind::wechat_android, "WeChat 6.6.7 (X5/TBS) on OPPO R9s, Android 6.0.1",
     "Mozilla/5.0 (Linux; Android 6.0.1; OPPO R9s Build/MMB29M; wv) AppleWebKit/537.36 (KHTML, "
     "like Gecko) Version/4.0 Chrome/57.0.2987.132 MQQBrowser/6.2 TBS/044204 Mobile Safari/537.36 "
     "MicroMessenger/6.6.7.1321(0x26060737) NetType/WIFI Language/zh_CN"},
    // public code search, 7 files; one a JavaScript test of normalizeFingerprint (WeChat iOS)
    {AgentKind::wechat_ios, "WeChat 8.0.50 on iPhone, iOS 17.5",
     "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
     "Gecko) Mobile/15E148 MicroMessenger/8.0.50(0x1800323c) NetType/WIFI Language/zh_CN"},
    // github.com/MoLing-Dong/ScriptsForQinglong Js/utils/common.js
    {AgentKind::wechat_ios, "WeChat 8.0.49 on iPhone, iOS 17.3",
     "Mozilla/5.0 (iPhone; CPU iPhone OS 17_3 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
     "Gecko) Mobile/15E148 MicroMessenger/8.0.49(0x18003127) NetType/WIFI Language/zh_CN"},
    // github.com/MoLing-Dong/ScriptsForQinglong Js/utils/common.js
    {AgentKind::wechat_ios, "WeChat 8.0.48 on iPhone, iOS 17.4.1, 4G",
     "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
     "Gecko) Mobile/15E148 MicroMessenger/8.0.48(0x18003030) NetType/4G Language/zh_CN"},
    // github.com/MoLing-Dong/ScriptsForQinglong Js/utils/common.js
    {AgentKind::wechat_ios, "WeChat 8.0.49 on iPhone, iOS 16.6.1, 4G, Language/zh_HK",
     "Mozilla/5.0 (iPhone; CPU iPhone OS 16_6_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
     "Gecko) Mobile/15E148 MicroMessenger/8.0.49(0x18003129) NetType/4G Language/zh_HK"},
    // github.com/MoLing-Dong/ScriptsForQinglong Js/utils/common.js
    {AgentKind::wechat_ios, "WeChat 8.0.48 on iPhone, iOS 14.8.1",
     "Mozilla/5.0 (iPhone; CPU iPhone OS 14_8_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
     "Gecko) Mobile/15E148 MicroMessenger/8.0.48(0x18003030) NetType/WIFI Language/zh_CN"},
    // public code search, 3 Rust clients for cat-match.easygame2021.com (the 2022 'sheep' game)
    {AgentKind::wechat_ios, "WeChat 8.0.26 on iPhone, iOS 16.0.1, 5G",
     "Mozilla/5.0 (iPhone; CPU iPhone OS 16_0_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
     "Gecko) Mobile/15E158 MicroMessenger/8.0.26(0x18002b36) NetType/5G Language/zh_CN"},
    // public code search, 7 files; one a TypeScript venue query's headers
    {AgentKind::wechat_ios, "WeChat 8.0.54 on iPhone, iOS 18.1",
     "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
     "Gecko) Mobile/15E148 MicroMessenger/8.0.54(0x18003625) NetType/WIFI Language/zh_CN"},
    // public code search, a JSON config's headers for libseat.hunau.edu.cn
    {AgentKind::wechat_ios, "WeChat 8.0.57 on iPad, iPadOS 18.2.1",
     "Mozilla/5.0 (iPad; CPU OS 18_2_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "Mobile/15E148 MicroMessenger/8.0.57(0x1800392a) NetType/WIFI Language/zh_CN"},
    // github.com/ua-parser/uap-core tests/test_ua.yaml
    {AgentKind::wechat_windows, "WeChat for Windows 3.9 (0x63090c33), XWEB 14315",
     "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/126.0.0.0 Safari/537.36 NetType/WIFI MicroMessenger/7.0.20.1781(0x6700143B) "
     "WindowsWechat(0x63090c33) XWEB/14315"},
    // github.com/ua-parser/uap-core tests/test_ua.yaml
    {AgentKind::wechat_windows, "WeChat for Windows 3.9 (0x63090a13), unified PC build, XWEB 17071",
     "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/132.0.0.0 Safari/537.36 NetType/WIFI MicroMessenger/7.0.20.1781(0x6700143B) "
     "WindowsWechat(0x63090a13) UnifiedPCWindowsWechat(0xf2541510) XWEB/17071"},
    // github.com/dromara/hutool
    // hutool-http/src/test/java/cn/hutool/http/useragent/IssueIB3SJFTest.java
    {AgentKind::wechat_windows, "WeChat for Windows 3.9 (0x63090c11), XWEB 11275 Flue",
     "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/122.0.0.0 Safari/537.36 NetType/WIFI MicroMessenger/7.0.20.1781(0x6700143B) "
     "WindowsWechat(0x63090c11) XWEB/11275 Flue"},
    // public code search, many TraceInt seat-booking clients' desktop UA (Go, C#)
    {AgentKind::wechat_windows, "WeChat for Windows 3.7 (0x63070626), no XWEB, Windows 7",
     "Mozilla/5.0 (Windows NT 6.1; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/81.0.4044.138 Safari/537.36 NetType/WIFI MicroMessenger/7.0.20.1781(0x6700143B) "
     "WindowsWechat(0x63070626)"},
    // github.com/ua-parser/uap-core tests/test_ua.yaml
    {AgentKind::wechat_mac, "WeChat for Mac 3.8.10, XWEB 1227",
     "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/107.0.0.0 Safari/537.36 NetType/WIFI MicroMessenger/6.8.0(0x16080000) "
     "MacWechat/3.8.10(0x13080a10) XWEB/1227"},
    // github.com/ua-parser/uap-core tests/test_ua.yaml
    {AgentKind::wechat_mac, "WeChat for Mac 3.8.7, XWEB 1191",
     "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/107.0.0.0 Safari/537.36 NetType/WIFI MicroMessenger/6.8.0(0x16080000) "
     "MacWechat/3.8.7(0x13080710) XWEB/1191"},
    // github.com/dromara/hutool
    // hutool-http/src/test/java/cn/hutool/http/useragent/UserAgentUtilTest.java
    {AgentKind::wechat_mac, "WeChat for Mac 3.8.7, Safari WebKit",
     "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "MicroMessenger/6.8.0(0x16080000) MacWechat/3.8.7(0x13080710) Safari/605.1.15 NetType/WIFI"},
    // public code search, a Python script's headers for mobilelearn.chaoxing.com
    {AgentKind::mini_program,
     "WeChat 8.0.42 mini-program (MiniProgramEnv/android) on Xiaomi M2012K11AC, Android 13, 4G",
     "Mozilla/5.0 (Linux; Android 13; M2012K11AC Build/TKQ1.220829.002; wv) AppleWebKit/537.36 "
     "(KHTML, like Gecko) Version/4.0 Chrome/116.0.0.0 Mobile Safari/537.36 XWEB/1160065 "
     "MMWEBSDK/20230805 MMWEBID/5630 MicroMessenger/8.0.42.2424(0x28002A43) WeChat/arm64 Weixin "
     "GPVersion/1 NetType/4G Language/zh_CN ABI/arm64 MiniProgramEnv/android"},
    // public code search, a captured request's headers kept in a JSON config
    {AgentKind::mini_program,
     "WeChat 8.0.33 mini-program web view (miniProgram/wx...) on Huawei NOH-AN00, Android 12, 5G",
     "Mozilla/5.0 (Linux; Android 12; NOH-AN00 Build/HUAWEINOH-AN00; wv) AppleWebKit/537.36 "
     "(KHTML, like Gecko) Version/4.0 Chrome/107.0.5304.141 Mobile Safari/537.36 XWEB/5015 "
     "MMWEBSDK/20230202 MMWEBID/4090 MicroMessenger/8.0.33.2320(0x2800213D) WeChat/arm64 Weixin "
     "NetType/5G Language/zh_CN ABI/arm64 miniProgram/wx9794a0135ea909fc"},
    // github.com/jsonchou/zax-device __mocks__/ua-list.js
    {AgentKind::mini_program, "WeChat 6.6.1 mini-program (X5/TBS) on Xiaomi MI 6, Android 7.1.1",
     "Mozilla/5.0 (Linux; Android 7.1.1; MI 6 Build/NMF26X; wv) AppleWebKit/537.36 (KHTML, like "
     "Gecko) Version/4.0 Chrome/57.0.2987.132 MQQBrowser/6.2 TBS/043807 Mobile Safari/537.36 "
     "MicroMessenger/6.6.1.1220(0x26060135) NetType/4G Language/zh_CN miniProgram"},
    // public code search, 10+ check-in scripts' headers (miniProgram/wx50282644351869da)
    {AgentKind::mini_program,
     "WeChat 8.0.48 mini-program web view (miniProgram/wx...) on iPhone, iOS 15.8, 4G",
     "Mozilla/5.0 (iPhone; CPU iPhone OS 15_8 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
     "Gecko) Mobile/15E148 MicroMessenger/8.0.48(0x18003029) NetType/4G Language/zh_CN "
     "miniProgram/wx50282644351869da"},
    // public code search, 10+ Python mini-program scripts' headers (e.g. jjw.jingjiu.com)
    {AgentKind::mini_program,
     "WeChat for Windows mini-program (MiniProgramEnv/Windows, WMPF), XWEB 9129",
     "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/116.0.0.0 Safari/537.36 MicroMessenger/7.0.20.1781(0x6700143B) NetType/WIFI "
     "MiniProgramEnv/Windows WindowsWechat/WMPF WindowsWechat(0x63090a1b) XWEB/9129"},
    // public code search, 5 files; Python scripts' headers (servicewechat.com referers)
    {AgentKind::mini_program,
     "WeChat for Mac 3.8.7 mini-program (MiniProgramEnv/Mac, WMPF), XWEB 14304",
     "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/126.0.0.0 Safari/537.36 MicroMessenger/7.0.20.1781(0x6700143B) NetType/WIFI "
     "MiniProgramEnv/Mac MacWechat/WMPF MacWechat/3.8.7(0x13080712) UnifiedPCMacWechat(0xf26406f0) "
     "XWEB/14304"},
    // github.com/matomo-org/device-detector Tests/Parser/Client/fixtures/mobile_app.yml
    {AgentKind::wecom, "WeCom 4.1.39 for Windows",
     "Mozilla/5.0 (Windows NT 10.0; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/129.0.6668.101 Safari/537.36 Language/zh ColorScheme/Light wxwork/4.1.39 "
     "(MicroMessenger/6.2) WindowsWechat MailPlugin_Electron WeMail embeddisk wwmver/3.26.39.639 "
     "noMediaCs/false"},
    // github.com/matomo-org/device-detector Tests/Parser/Client/fixtures/mobile_app.yml
    {AgentKind::wecom, "WeCom 4.1.39 on iPhone, iOS 18.5",
     "Mozilla/5.0 (iPhone; CPU iPhone OS 18_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
     "Gecko) Mobile/15E148 wxwork/4.1.39 MicroMessenger/7.0.1 Language/zh ColorScheme/Light "
     "wwmver/3.26.38.377"},
    // public code search, a Python Selenium script's User_Agent (wxwork)
    {AgentKind::wecom, "WeCom 4.1.36 on Android 15 (reduced UA, no model)",
     "Mozilla/5.0 (Linux; Android 15; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 "
     "Chrome/130.0.6723.86 Mobile Safari/537.36 wxwork/4.1.36 MicroMessenger/7.0.1 NetType/4G "
     "Language/zh Lang/zh ColorScheme/Dark wwmver/3.26.36.632"},
    // github.com/dromara/hutool
    // hutool-http/src/test/java/cn/hutool/http/useragent/UserAgentUtilTest.java
    {AgentKind::wecom, "WeCom 3.1.10 (X5/TBS) on Honor JSN-AL00, Android 10",
     "Mozilla/5.0 (Linux; Android 10; JSN-AL00 Build/HONORJSN-AL00; wv) AppleWebKit/537.36 (KHTML, "
     "like Gecko) Version/4.0 Chrome/77.0.3865.120 MQQBrowser/6.2 TBS/045710 Mobile Safari/537.36 "
     "wxwork/3.1.10 ColorScheme/Light MicroMessenger/7.0.1 NetType/WIFI Language/zh Lang/zh"},
    // github.com/omrilotan/isbot fixtures/downloaded/user-agents.net.json
    {AgentKind::scripted, "curl 8.5.0", "curl/8.5.0"},
    // github.com/omrilotan/isbot fixtures/downloaded/user-agents.net.json
    {AgentKind::scripted, "Python requests 2.28.1", "python-requests/2.28.1"},
    // github.com/omrilotan/isbot fixtures/downloaded/user-agents.net.json
    {AgentKind::scripted, "Python urllib (Python 3.10)", "Python-urllib/3.10"},
    // github.com/omrilotan/isbot fixtures/downloaded/user-agents.net.json
    {AgentKind::scripted, "Python aiohttp 3.9.5", "Python/3.11 aiohttp/3.9.5"},
    // github.com/omrilotan/isbot fixtures/downloaded/user-agents.net.json
    {AgentKind::scripted, "Python httpx 0.23.0", "python-httpx/0.23.0"},
    // github.com/omrilotan/isbot fixtures/downloaded/user-agents.net.json
    {AgentKind::scripted, "OkHttp 4.12.0", "okhttp/4.12.0"},
    // github.com/matomo-org/device-detector Tests/Parser/Client/fixtures/library.yml
    {AgentKind::scripted, "Go net/http client (HTTP/1.1)", "Go-http-client/1.1"},
    // github.com/omrilotan/isbot fixtures/downloaded/user-agents.net.json
    {AgentKind::scripted, "Apache HttpClient 4.5.14 on Java 17",
     "Apache-HttpClient/4.5.14 (Java/17.0.8)"},
    // github.com/omrilotan/isbot fixtures/downloaded/user-agents.net.json
    {AgentKind::scripted, "axios 1.7.3", "axios/1.7.3"},
    // github.com/matomo-org/device-detector Tests/Parser/Client/fixtures/library.yml
    {AgentKind::scripted, "node-fetch 1.0",
     "node-fetch/1.0 (+https://github.com/bitinn/node-fetch)"},
    // github.com/omrilotan/isbot fixtures/downloaded/user-agents.net.json
    {AgentKind::scripted, "Java 17 HttpURLConnection", "Java/17.0.9"},
    // github.com/omrilotan/isbot fixtures/downloaded/user-agents.net.json
    {AgentKind::scripted, "GNU Wget 1.21.3", "Wget/1.21.3"},
    // github.com/omrilotan/isbot fixtures/downloaded/user-agents.net.json
    {AgentKind::scripted, "Postman 7.34.0", "PostmanRuntime/7.34.0"},
    // github.com/omrilotan/isbot fixtures/downloaded/myip.ms.json
    {AgentKind::scripted, "Scrapy 2.11.0", "Scrapy/2.11.0 (+https://scrapy.org)"},
    // github.com/omrilotan/isbot fixtures/crawlers.yml
    {AgentKind::headless, "Headless Chrome 100 on Linux",
     "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "HeadlessChrome/100.0.4896.88 Safari/537.36"},
    // public code search, a Python Selenium script's comment showing what headless mode sent
    {AgentKind::headless, "Headless Chrome 98 on Windows (Selenium)",
     "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "HeadlessChrome/98.0.4758.81 Safari/537.36"},
    // github.com/matomo-org/device-detector Tests/Parser/Client/fixtures/library.yml
    {AgentKind::headless, "PhantomJS 2.1.1",
     "Mozilla/5.0 (Unknown; Linux x86_64) AppleWebKit/538.1 (KHTML, like Gecko) PhantomJS/2.1.1 "
     "Safari/538.1"},
    // github.com/monperrus/crawler-user-agents crawler-user-agents.json
    {AgentKind::headless, "Puppeteer (headless Chrome 120, marked)",
     "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "HeadlessChrome/120.0.0.0 Safari/537.36 Puppeteer"},
    // github.com/monperrus/crawler-user-agents crawler-user-agents.json
    {AgentKind::headless, "Playwright 1.40.0 (Chrome 120)",
     "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/120.0.0.0 Safari/537.36 Playwright/1.40.0"},
    // github.com/monperrus/crawler-user-agents crawler-user-agents.json
    {AgentKind::headless, "Selenium (Chrome 120, marked)",
     "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/120.0.0.0 Safari/537.36; Selenium"},
};

}  // namespace

std::span<const UserAgentSample> real_user_agents() { return kSamples; }

std::string with_install_number(std::string_view agent, std::uint64_t install) {
  constexpr std::string_view kMarker = "MMWEBID/";
  std::string out(agent);
  const std::size_t at = out.find(kMarker);
  if (at == std::string::npos) return out;
  const std::size_t digits = at + kMarker.size();
  out.replace(digits, out.find(' ', digits) - digits, std::to_string(install));
  return out;
}

}  // namespace tally::corpus
