// HTTP/1.1 framing of the real tallyd (DESIGN.md "HTTP API", RFC 9112): the request vectors of
// peer parsers' suites (../shared/conformance/http_vectors.json: llhttp's tests and the HTTP
// Garden's findings) replayed byte for byte, and the project's own smuggling cases, in which
// a ballot hidden in a body must never be counted.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <simdjson.h>

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "tallyd_process.h"

namespace tally::testing {
namespace {

constexpr const char* kDemo = "ordos-2023-zuimei";
constexpr std::string_view kProbe = "GET /healthz HTTP/1.1\r\nHost: probe\r\n\r\n";

// Where the shared conformance vectors are: TALLY_CONFORMANCE_DIR, else beside the checkout.
std::filesystem::path vectors_path() {
  if (const char* dir = std::getenv("TALLY_CONFORMANCE_DIR")) {
    return std::filesystem::path(dir) / "http_vectors.json";
  }
  const char* source = std::getenv("TALLY_SOURCE_DIR");
  return std::filesystem::path(source ? source : ".") / ".." / "shared" / "conformance" /
         "http_vectors.json";
}

std::string base64_decode(std::string_view text) {
  std::string out(text.size() / 4 * 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(text.data()),
                                static_cast<int>(text.size()));
  if (n < 0) return {};
  std::size_t padding = 0;
  while (padding < 2 && padding < text.size() && text[text.size() - 1 - padding] == '=') ++padding;
  out.resize(static_cast<std::size_t>(n) - padding);
  return out;
}

// One answer as it came off the wire.
struct WireAnswer {
  int status = 0;
  std::string status_word;  // the JSON body's "status"
  std::string error;        // the JSON body's "error", if any
  bool closes = false;      // said `Connection: close`
};

// What a connection carried back: the answers in order, whether every byte of it parsed as
// a well-formed answer (status line, Content-Length, and for JSON a JSON object with
// "status"), and
// whether the server ended the connection.
struct Exchange {
  std::vector<WireAnswer> answers;
  bool well_formed = true;
  std::string trouble;  // what was not well formed
  bool closed = false;
};

Exchange parse_answers(std::string_view bytes, bool closed, bool head_first) {
  Exchange exchange;
  exchange.closed = closed;
  simdjson::dom::parser json;
  while (!bytes.empty()) {
    const std::size_t head_end = bytes.find("\r\n\r\n");
    if (head_end == std::string_view::npos || bytes.substr(0, 9) != "HTTP/1.1 ") {
      exchange.well_formed = false;
      exchange.trouble = "not an answer: " + std::string(bytes.substr(0, 80));
      return exchange;
    }
    const std::string head(bytes.substr(0, head_end));
    WireAnswer answer;
    answer.status = std::atoi(head.c_str() + 9);
    std::string lower = head;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    answer.closes = lower.find("\r\nconnection: close") != std::string::npos;
    const std::size_t length_at = lower.find("\r\ncontent-length: ");
    if (length_at == std::string::npos) {
      exchange.well_formed = false;
      exchange.trouble = "no Content-Length: " + head;
      return exchange;
    }
    // The answer to a HEAD has the GET answer's length and no body (RFC 9110 9.3.2).
    const bool to_head = head_first && exchange.answers.empty();
    const std::size_t length =
        to_head ? 0 : std::strtoull(head.c_str() + length_at + 18, nullptr, 10);
    bytes.remove_prefix(head_end + 4);
    if (to_head) {
      exchange.answers.push_back(std::move(answer));
      continue;
    }
    if (bytes.size() < length) {
      exchange.well_formed = false;
      exchange.trouble = "body cut short: " + head;
      return exchange;
    }
    const std::string body(bytes.substr(0, length));
    bytes.remove_prefix(length);
    if (lower.find("\r\ncontent-type: application/json") == std::string::npos) {
      exchange.answers.push_back(std::move(answer));  // the dashboard's page, say
      continue;
    }
    simdjson::dom::object object;
    std::string_view word;
    if (json.parse(body).get(object) || object["status"].get(word)) {
      exchange.well_formed = false;
      exchange.trouble = "body is not a JSON object with a status: " + body;
      return exchange;
    }
    answer.status_word = word;
    std::string_view error;
    if (!object["error"].get(error)) answer.error = error;
    exchange.answers.push_back(std::move(answer));
  }
  return exchange;
}

// Sends `bytes`, ends the sending side, and reads until the server closes (or the receive
// timeout, which counts as not closed).
Exchange exchange(int port, std::string_view bytes) {
  HttpClient client(port);
  EXPECT_TRUE(client.connected());
  client.send_raw(bytes);
  client.shutdown_write();
  std::string received;
  bool closed = false;
  for (;;) {
    std::string more = client.rest_or_timeout(closed);
    received += more;
    if (more.empty()) break;
  }
  std::string_view first = bytes;
  while (first.substr(0, 2) == "\r\n") first.remove_prefix(2);
  return parse_answers(received, closed, first.substr(0, 5) == "HEAD ");
}

// The version token of the request line (after any empty lines), or "" when there is none.
std::string request_version(std::string_view raw) {
  while (raw.substr(0, 2) == "\r\n") raw.remove_prefix(2);
  std::string_view line = raw.substr(0, raw.find("\r\n"));
  const std::size_t space = line.rfind(' ');
  if (space == std::string_view::npos || line.find(' ') == space) return {};
  return std::string(line.substr(space + 1));
}

class FramingTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = new TallydProcess();
    ASSERT_TRUE(server_->start({"--demo"})) << server_->log();
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }

  static long long total_votes() {
    HttpClient client(server_->port());
    return number_of(client.request("GET", std::string("/v1/campaigns/") + kDemo + "/tally").body,
                     "total");
  }

  static std::string vote_body(const std::string& voter, const std::string& candidate = "c03") {
    return std::string(R"({"campaign":")") + kDemo + R"(","candidate":")" + candidate +
           R"(","voter":")" + voter + R"("})";
  }

  // A complete, authenticated single-vote request: what a smuggler hides in a body.
  static std::string vote_request(const std::string& voter) {
    return HttpClient::format("POST", "/v1/votes", vote_body(voter), server_->ingest_token());
  }

  static TallydProcess* server_;
};

TallydProcess* FramingTest::server_ = nullptr;

// Every vector of the peer suites. `invalid`: one 4xx answer, then the connection closes, and
// nothing in it is served. `valid`: its complete requests are answered (none refused as
// malformed), well-formed; after one that closes, nothing more; when it ends on a request's
// boundary the connection is still in step (a probe request after it is answered 200); an
// incomplete tail gets at most one 4xx before the close. A `valid` request line of another
// protocol (RTSP/1.0, ICE/1.0, HTTP/0.9, which llhttp also reads) is refused: tally speaks
// HTTP/1.x only. `lenient` (RFC 9112 allows either reading): well-formed answers, and a 4xx
// closes. Votes counted meanwhile: none.
TEST_F(FramingTest, EveryPeerVectorIsAnsweredAsItsVerdictSays) {
  const std::filesystem::path path = vectors_path();
  simdjson::dom::parser parser;
  simdjson::dom::element document;
  ASSERT_EQ(parser.load(path.string()).get(document), simdjson::SUCCESS)
      << "the conformance vectors are missing: " << path
      << " (set TALLY_CONFORMANCE_DIR to the folder of http_vectors.json)";
  simdjson::dom::array vectors;
  ASSERT_EQ(document["vectors"].get(vectors), simdjson::SUCCESS);
  const long long votes_before = total_votes();

  std::size_t count = 0;
  std::map<std::string, int> by_verdict;
  for (simdjson::dom::element vector : vectors) {
    std::string_view id, expect, raw_b64;
    std::int64_t complete = 0;
    bool at_boundary = false, close_after_first = false;
    ASSERT_EQ(vector["id"].get(id), simdjson::SUCCESS);
    ASSERT_EQ(vector["expect"].get(expect), simdjson::SUCCESS);
    ASSERT_EQ(vector["raw_b64"].get(raw_b64), simdjson::SUCCESS);
    ASSERT_EQ(vector["complete_messages"].get(complete), simdjson::SUCCESS);
    ASSERT_EQ(vector["ends_at_boundary"].get(at_boundary), simdjson::SUCCESS);
    ASSERT_EQ(vector["close_after_first"].get(close_after_first), simdjson::SUCCESS);
    const std::string raw = base64_decode(raw_b64);
    ASSERT_FALSE(raw.empty()) << id;
    SCOPED_TRACE(std::string(id) + " (" + std::string(expect) + ")");
    ++count;
    ++by_verdict[std::string(expect)];

    // Each vector in a call of its own: a failed assertion ends its vector, not the run.
    [&] {
      const std::string version = request_version(raw);
      const bool other_protocol = version != "HTTP/1.1" && version != "HTTP/1.0";
      const bool probe = expect == "valid" && !other_protocol && at_boundary && !close_after_first;
      const Exchange got = exchange(server_->port(), probe ? raw + std::string(kProbe) : raw);
      ASSERT_TRUE(got.well_formed) << got.trouble;
      ASSERT_TRUE(got.closed) << "the connection stayed open after the client's end";
      const auto& answers = got.answers;

      if (expect == "invalid" || (expect == "valid" && other_protocol)) {
        ASSERT_EQ(answers.size(), 1u) << "answers after the first: a body read as a request";
        EXPECT_GE(answers[0].status, 400);
        EXPECT_LT(answers[0].status, 500);
        EXPECT_TRUE(answers[0].closes) << "a refused request must close the connection";
        return;
      }
      if (expect == "valid") {
        const std::size_t requests = static_cast<std::size_t>(complete);
        ASSERT_GE(answers.size(), requests);
        for (std::size_t i = 0; i < requests; ++i) {
          EXPECT_NE(answers[i].status, 400) << "request " << i + 1 << ": " << answers[i].error;
          EXPECT_NE(answers[i].status, 431);
        }
        // An HTTP/1.0 request without keep-alive closes the connection as well.
        const bool closing = close_after_first || (requests > 0 && answers[requests - 1].closes);
        if (closing) {
          EXPECT_EQ(answers.size(), requests) << "served past an answer that closes";
          EXPECT_TRUE(answers.back().closes);
          EXPECT_TRUE(!close_after_first || requests == 1);
        } else if (probe) {
          ASSERT_EQ(answers.size(), requests + 1) << "the stream fell out of step";
          EXPECT_EQ(answers.back().status, 200);
          EXPECT_EQ(answers.back().status_word, "ok");
        } else {
          // An incomplete tail: nothing, or one refusal that closes.
          ASSERT_LE(answers.size(), requests + 1);
          if (answers.size() == requests + 1) {
            EXPECT_EQ(answers.back().status, 400) << answers.back().error;
            EXPECT_TRUE(answers.back().closes);
          }
        }
        return;
      }
      ASSERT_EQ(expect, "lenient");
      for (std::size_t i = 0; i < answers.size(); ++i) {
        const int status = answers[i].status;
        if (status == 400 || status == 413 || status == 431) {
          EXPECT_TRUE(answers[i].closes);
          EXPECT_EQ(i + 1, answers.size()) << "served after a refusal";
        }
      }
    }();
  }
  EXPECT_GE(count, 200u) << "fewer vectors than the suite holds";
  EXPECT_GT(by_verdict["invalid"], 100);
  EXPECT_GT(by_verdict["valid"], 50);
  EXPECT_EQ(total_votes(), votes_before) << "a vector was counted as a vote";
  HttpClient client(server_->port());
  EXPECT_EQ(client.request("GET", "/healthz").status, 200);
}

// The smuggling the peer vectors found, aimed at the vote endpoint: an outer ballot whose
// framing is refused, with a whole authenticated ballot request as its body. The server must
// answer one 400 naming the rule and close; neither ballot may count (each is accepted when
// sent plainly afterwards, which a counted one would answer `duplicate`).
TEST_F(FramingTest, ABallotHiddenInARefusedBodyIsNeverCounted) {
  struct Case {
    std::string name;
    std::string headers;  // after the request line's Host and Authorization
    bool http10 = false;
    bool chunk_body = false;  // send the hidden request as one chunk
  };
  const std::string hidden_length_placeholder = "LENGTH";
  const std::vector<Case> cases = {
      {"identity", "Transfer-Encoding: identity\r\nContent-Length: LENGTH\r\n"},
      {"gzip without length", "Transfer-Encoding: gzip\r\n"},
      {"chunkedchunked", "Transfer-Encoding: chunkedchunked\r\n"},
      {"nbsp chunked",
       "Transfer-Encoding: \xa0"
       "chunked\xa0\r\n"},
      {"chunked then deflate", "Transfer-Encoding: chunked, deflate\r\n", false, true},
      {"chunked twice", "Transfer-Encoding: chunked, chunked\r\n", false, true},
      {"chunked over two fields", "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
       false, true},
      {"chunked with length", "Transfer-Encoding: chunked\r\nContent-Length: LENGTH\r\n", false,
       true},
      {"length then chunked", "Content-Length: LENGTH\r\nTransfer-Encoding: chunked\r\n", false,
       true},
      {"length twice, equal", "Content-Length: LENGTH\r\nContent-Length: LENGTH\r\n"},
      {"length as a list", "Content-Length: LENGTH, LENGTH\r\n"},
      {"folded length", "X-Note: hello\r\n Content-Length: LENGTH\r\n"},
      {"whitespace before the first field", " Content-Length: LENGTH\r\nHost: b\r\n"},
      {"chunked from HTTP/1.0", "Transfer-Encoding: chunked\r\n", true, true},
  };
  int n = 0;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string outer_voter = "smuggle-outer-" + std::to_string(n);
    const std::string hidden_voter = "smuggle-hidden-" + std::to_string(n++);
    // The outer body is the outer ballot, then the hidden request; only a parser that frames
    // the outer request by the wrong length would run the hidden one.
    const std::string hidden = vote_request(hidden_voter);
    std::string body = vote_body(outer_voter) + hidden;
    if (c.chunk_body) {
      char size[32];
      std::snprintf(size, sizeof size, "%zx\r\n", body.size());
      body = size + body + "\r\n0\r\n\r\n";
    }
    std::string headers = c.headers;
    for (std::size_t at; (at = headers.find(hidden_length_placeholder)) != std::string::npos;) {
      headers.replace(at, hidden_length_placeholder.size(), std::to_string(body.size()));
    }
    const std::string request = std::string("POST /v1/votes ") +
                                (c.http10 ? "HTTP/1.0" : "HTTP/1.1") +
                                "\r\nHost: tally\r\nAuthorization: Bearer " +
                                server_->ingest_token() + "\r\n" + headers + "\r\n" + body;
    const Exchange got = exchange(server_->port(), request + hidden);
    ASSERT_TRUE(got.well_formed) << got.trouble;
    ASSERT_EQ(got.answers.size(), 1u);
    EXPECT_EQ(got.answers[0].status, 400);
    EXPECT_EQ(got.answers[0].status_word, "invalid");
    EXPECT_EQ(got.answers[0].error.rfind("request: ", 0), 0u) << got.answers[0].error;
    EXPECT_TRUE(got.answers[0].closes);
    EXPECT_TRUE(got.closed);
    for (const std::string& voter : {outer_voter, hidden_voter}) {
      HttpClient client(server_->port());
      const HttpAnswer plain =
          client.request("POST", "/v1/votes", vote_body(voter), server_->ingest_token());
      EXPECT_EQ(status_of(plain.body), "accepted")
          << voter << " was counted before: " << plain.body;
    }
  }
}

// What RFC 9112 lets through is served: empty lines before a request line (2.2), a CRLF a
// client leaves after a body, chunked bodies, and a coding before chunked, which the server
// cannot decode but can frame (501, the connection kept).
TEST_F(FramingTest, EmptyLinesChunkedBodiesAndUnknownCodingsKeepTheConnection) {
  const std::string first = vote_request("framing-crlf-1");
  const std::string second = vote_request("framing-crlf-2");
  const std::string body = vote_body("framing-chunked");
  char size[32];
  std::snprintf(size, sizeof size, "%zx", body.size());
  const std::string chunked = "POST /v1/votes HTTP/1.1\r\nHost: tally\r\nAuthorization: Bearer " +
                              server_->ingest_token() + "\r\nTransfer-Encoding: chunked\r\n\r\n" +
                              size + "\r\n" + body + "\r\n0\r\n\r\n";
  const std::string gzip =
      "POST /v1/votes HTTP/1.1\r\nHost: tally\r\nAuthorization: Bearer " + server_->ingest_token() +
      "\r\nTransfer-Encoding: gzip, chunked\r\n\r\n" + size + "\r\n" + body + "\r\n0\r\n\r\n";
  const Exchange got = exchange(server_->port(), "\r\n\r\n" + first + "\r\n" + second + chunked +
                                                     "\r\n" + gzip + std::string(kProbe));
  ASSERT_TRUE(got.well_formed) << got.trouble;
  ASSERT_EQ(got.answers.size(), 5u);
  EXPECT_EQ(got.answers[0].status_word, "accepted");
  EXPECT_EQ(got.answers[1].status_word, "accepted");
  EXPECT_EQ(got.answers[2].status_word, "accepted");
  EXPECT_EQ(got.answers[3].status, 501);
  EXPECT_FALSE(got.answers[3].closes);
  EXPECT_EQ(got.answers[4].status, 200);
}

// A connection whose client ends it inside a request is told so before the close; one that
// ends between requests, even after empty lines, is closed without a word.
TEST_F(FramingTest, TheEndOfTheStreamInsideARequestIsAnswered) {
  const std::string request = vote_request("framing-cut");
  const Exchange cut = exchange(server_->port(), request.substr(0, request.size() - 5));
  ASSERT_TRUE(cut.well_formed) << cut.trouble;
  ASSERT_EQ(cut.answers.size(), 1u);
  EXPECT_EQ(cut.answers[0].status, 400);
  EXPECT_EQ(cut.answers[0].error, "request: the connection ended inside it");
  EXPECT_TRUE(cut.closed);

  const Exchange between = exchange(server_->port(), std::string(kProbe) + "\r\n\r\n");
  ASSERT_TRUE(between.well_formed) << between.trouble;
  ASSERT_EQ(between.answers.size(), 1u);
  EXPECT_EQ(between.answers[0].status, 200);
  EXPECT_TRUE(between.closed);
}

}  // namespace
}  // namespace tally::testing
