// What checking a bearer token costs now that the tokens file holds digests: one SHA-256 of
// the presented token (ingest::Tokens::check), or none for a header a connection checked before
// (its TokenMemo), against the plaintext comparison it replaced (every stored token compared with
// CRYPTO_memcmp), with the ways of calling OpenSSL's SHA-256 that were weighed (docs/BENCHMARKS.md
// "Token check").
//
//   build/bench/tokens_bench
#include <benchmark/benchmark.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <string>
#include <string_view>
#include <vector>

#include "tally/ingest/tokens.h"

namespace {

// Generated tokens' shape: "ingest-" and 48 hex digits.
const std::string kIngest = "ingest-3c555cc32a6964908ba5451a78ce481dc8f64c9fedae9a37";
const std::string kAdmin = "admin-03e491b5b33e3c05792a0ef3b050f357208e16d9c3e86845";
const std::string kRead = "read-2f01478220fd9ca28f5b71b4760ee4749af24d9d509e70ff";

// `extra` more ingest tokens besides the generated three: a file after many rotations.
tally::ingest::TokenSet plaintext_set(int extra) {
  tally::ingest::TokenSet set;
  set.ingest.push_back(kIngest);
  set.admin.push_back(kAdmin);
  set.read.push_back(kRead);
  for (int i = 0; i < extra; ++i) {
    std::string token = kIngest;
    token.replace(token.size() - 8, 8, std::to_string(10'000'000 + i));
    set.ingest.push_back(token);
  }
  return set;
}

// tally's check: the presented token hashed, its digest compared with every stored one.
void BM_CheckDigests(benchmark::State& state) {
  const tally::ingest::Tokens tokens(
      tally::ingest::digests_of(plaintext_set(static_cast<int>(state.range(0)))));
  const std::string header = "Bearer " + kIngest;
  for (auto _ : state) benchmark::DoNotOptimize(tokens.check(header));
}
BENCHMARK(BM_CheckDigests)->Arg(0)->Arg(30)->ArgName("extra_tokens");

// A keep-alive connection's requests: the same header again, answered from its memo.
void BM_CheckDigestsSameConnection(benchmark::State& state) {
  const tally::ingest::Tokens tokens(
      tally::ingest::digests_of(plaintext_set(static_cast<int>(state.range(0)))));
  const std::string header = "Bearer " + kIngest;
  tally::ingest::TokenMemo memo;
  for (auto _ : state) benchmark::DoNotOptimize(tokens.check(header, memo));
}
BENCHMARK(BM_CheckDigestsSameConnection)->Arg(0)->Arg(30)->ArgName("extra_tokens");

// The baseline: the check before digests, every stored token compared in plaintext.
void BM_CheckPlaintextBaseline(benchmark::State& state) {
  const tally::ingest::TokenSet set = plaintext_set(static_cast<int>(state.range(0)));
  const std::string header = "Bearer " + kIngest;
  const auto matches = [](const std::vector<std::string>& stored, std::string_view presented) {
    bool found = false;
    for (const std::string& token : stored) {
      if (token.size() == presented.size() &&
          CRYPTO_memcmp(token.data(), presented.data(), token.size()) == 0) {
        found = true;
      }
    }
    return found;
  };
  for (auto _ : state) {
    const std::string_view presented = std::string_view(header).substr(7);
    const bool admin = matches(set.admin, presented);
    const bool ingest = matches(set.ingest, presented);
    const bool read = matches(set.read, presented);
    benchmark::DoNotOptimize(admin || ingest || read);
  }
}
BENCHMARK(BM_CheckPlaintextBaseline)->Arg(0)->Arg(30)->ArgName("extra_tokens");

// The SHA-256 alone, three ways. EVP_sha256() makes EVP_Digest fetch the algorithm from the
// provider tables on every call.
void BM_Sha256EvpImplicitFetch(benchmark::State& state) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  for (auto _ : state) {
    EVP_Digest(kIngest.data(), kIngest.size(), digest, &length, EVP_sha256(), nullptr);
    benchmark::DoNotOptimize(digest);
  }
}
BENCHMARK(BM_Sha256EvpImplicitFetch);

// What tokens.cc does: the algorithm fetched once; EVP_Digest makes and frees its context.
void BM_Sha256EvpFetchedOnce(benchmark::State& state) {
  EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  for (auto _ : state) {
    EVP_Digest(kIngest.data(), kIngest.size(), digest, &length, md, nullptr);
    benchmark::DoNotOptimize(digest);
  }
  EVP_MD_free(md);
}
BENCHMARK(BM_Sha256EvpFetchedOnce);

// One context kept and re-initialised: no allocation per hash.
void BM_Sha256EvpContextKept(benchmark::State& state) {
  EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  EVP_MD_CTX* context = EVP_MD_CTX_new();
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  for (auto _ : state) {
    EVP_DigestInit_ex2(context, md, nullptr);
    EVP_DigestUpdate(context, kIngest.data(), kIngest.size());
    EVP_DigestFinal_ex(context, digest, &length);
    benchmark::DoNotOptimize(digest);
  }
  EVP_MD_CTX_free(context);
  EVP_MD_free(md);
}
BENCHMARK(BM_Sha256EvpContextKept);

}  // namespace

BENCHMARK_MAIN();
