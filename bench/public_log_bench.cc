// The public log's costs (docs/EVENT_FORMAT.md "Public log"; figures in docs/BENCHMARKS.md
// "Public log"):
// - per vote, on the ingest thread: the four tags, the public form's canonical JSON and its
//   leaf hash (what VoteLog::append_vote_payload adds), beside the stored payload's encoding
//   that it already did;
// - per event, on the writer: Frontier::append, and the tree entries of records of 1,000;
// - per request, at 10M events: inclusion and consistency proofs and root_at() read through
//   storage::StoredTree from a real `tree` family (db_layout.h's options), and a checkpoint's
//   Ed25519 signature.
// The 10M-leaf database is built once per process in a temp dir (PUBLIC_LOG_BENCH_LEAVES
// leaves, default 10,000,000, written as records of PUBLIC_LOG_BENCH_ENTRY_LEAVES, default
// 8,192, the largest commit batch; storage splits each into entries of at most
// storage::kTreeEntryLeaves at its multiples; the time it took is printed on stderr) and
// removed at exit.
// Release builds only.
#define OPENSSL_SUPPRESS_DEPRECATED
#include <benchmark/benchmark.h>
#include <openssl/sha.h>
#include <rocksdb/db.h>
#include <rocksdb/options.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "tally/engine/engine.h"
#include "tally/publog/checkpoint.h"
#include "tally/publog/merkle.h"
#include "tally/publog/public_event.h"
#include "tally/storage/event_format.h"
#include "db_layout.h"
#include "rocksdb_logger.h"
#include "tree_store.h"
#include "upper_tree.h"

namespace {

using namespace tally;

// WeChat 8.0.34 on a vivo V2199A, Android 13 (corpus/user_agents.cc, the campaign's own
// report): 300 bytes.
constexpr std::string_view kWeChatAndroid =
    "Mozilla/5.0 (Linux; Android 13; V2199A Build/TP1A.220624.014; wv) AppleWebKit/537.36 (KHTML, "
    "like Gecko) Version/4.0 Chrome/107.0.5304.141 Mobile Safari/537.36 XWEB/5023 "
    "MMWEBSDK/20230303 MMWEBID/4356 MicroMessenger/8.0.34.2340(0x2800225D) WeChat/arm64 Weixin "
    "NetType/WIFI Language/zh_CN ABI/arm64";
constexpr std::int64_t kServerMs = 1679900000123;

// A vote as a frontend sends it: an openid, a device id, a mobile carrier's address, an
// idempotency key built from the openid, the phone's clock.
engine::Ballot realistic_ballot() {
  engine::Ballot ballot;
  ballot.campaign = "ordos-2023-zuimei";
  ballot.candidate = "c07";
  ballot.voter = "o6_bmjrPTlm6_2sgVt7hMZOPfL2M";
  ballot.device = "a3f1c09e7b2d4e58a1c6f0b9d2e47a13";
  ballot.ip = "223.104.63.25";
  ballot.ua = kWeChatAndroid;
  ballot.request_id = "o6_bmjrPTlm6_2sgVt7hMZOPfL2M-1679900000087-3";
  ballot.ts_ms = 1679900000087;
  return ballot;
}

const publog::TagKey& bench_tag_key() {
  static const publog::TagKeyring keyring(publog::TagSecret::generate());
  return keyring.key("ordos-2023-zuimei");
}

// What the ingest thread did before the public log: the stored payload's encoding.
void BM_EncodeVotePayload(benchmark::State& state) {
  const engine::Ballot ballot = realistic_ballot();
  std::string out;
  for (auto _ : state) {
    out.clear();
    storage::encode_vote_payload(storage::VoteFields{ballot, kServerMs, 19443, 0}, out);
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["bytes"] = static_cast<double>(out.size());
}
BENCHMARK(BM_EncodeVotePayload);

// One tag: HMAC-SHA-256 from the saved pad states, 16 bytes as hex.
void BM_Tag(benchmark::State& state) {
  const publog::TagKey& key = bench_tag_key();
  std::string out;
  for (auto _ : state) {
    out.clear();
    key.append_tag(out, "o6_bmjrPTlm6_2sgVt7hMZOPfL2M");
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK(BM_Tag);

// The public form's canonical JSON, its four tags included.
void BM_AppendPublicVote(benchmark::State& state) {
  const publog::TagKey& key = bench_tag_key();
  const engine::Ballot ballot = realistic_ballot();
  std::string out;
  for (auto _ : state) {
    out.clear();
    publog::append_public_vote(out, key, ballot, kServerMs, 19443, 0);
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["bytes"] = static_cast<double>(out.size());
}
BENCHMARK(BM_AppendPublicVote);

// The leaf of that public form: SHA-256(0x00 ‖ form).
void BM_LeafHash(benchmark::State& state) {
  const engine::Ballot ballot = realistic_ballot();
  std::string form;
  publog::append_public_vote(form, bench_tag_key(), ballot, kServerMs, 19443, 0);
  for (auto _ : state) {
    benchmark::DoNotOptimize(publog::leaf_hash(form));
  }
  state.counters["bytes"] = static_cast<double>(form.size());
}
BENCHMARK(BM_LeafHash);

// All that append_vote_payload adds per vote: the campaign's key from the keyring (the
// thread's last one), the public form, its leaf.
void BM_PublicLeafPerVote(benchmark::State& state) {
  const publog::TagKeyring keyring(publog::TagSecret::generate());
  const engine::Ballot ballot = realistic_ballot();
  std::string form;
  for (auto _ : state) {
    form.clear();
    publog::append_public_vote(form, keyring.key(ballot.campaign), ballot, kServerMs, 19443, 0);
    benchmark::DoNotOptimize(publog::leaf_hash(form));
  }
}
BENCHMARK(BM_PublicLeafPerVote);

std::vector<publog::Hash> some_leaves(std::size_t n) {
  std::vector<publog::Hash> leaves(n);
  for (std::size_t i = 0; i < n; ++i) leaves[i] = publog::leaf_hash(std::to_string(i));
  return leaves;
}

// One leaf onto the frontier (one node hash on average, amortized).
void BM_FrontierAppend(benchmark::State& state) {
  const std::vector<publog::Hash> leaves = some_leaves(1 << 16);
  publog::Frontier frontier;
  std::vector<publog::Hash> completed;
  std::size_t i = 0;
  for (auto _ : state) {
    completed.clear();
    frontier.append(leaves[i++ & 0xFFFF], state.range(0) != 0 ? &completed : nullptr);
    benchmark::DoNotOptimize(completed.data());
  }
}
BENCHMARK(BM_FrontierAppend)->Arg(0)->Arg(1)->ArgName("keep_completed");

// publog::node_hash, as Frontier::append and the proofs call it (OpenSSL's one-shot SHA256()).
void BM_NodeHash(benchmark::State& state) {
  const publog::Hash left = publog::leaf_hash("left"), right = publog::leaf_hash("right");
  for (auto _ : state) benchmark::DoNotOptimize(publog::node_hash(left, right));
}
BENCHMARK(BM_NodeHash);

// Baseline: the same 65 bytes through SHA256_Init/Update/Final, as leaf_hash() and the tags
// hash (OpenSSL 3's SHA256() goes through EVP_Q_digest: an algorithm fetch and a context
// per call).
void BM_NodeHashLowLevel(benchmark::State& state) {
  const publog::Hash left = publog::leaf_hash("left"), right = publog::leaf_hash("right");
  for (auto _ : state) {
    unsigned char input[1 + 2 * publog::kHashBytes];
    input[0] = 0x01;
    std::memcpy(input + 1, left.data(), left.size());
    std::memcpy(input + 1 + publog::kHashBytes, right.data(), right.size());
    publog::Hash out;
    SHA256_CTX ctx;
    SHA256_Init(&ctx);
    SHA256_Update(&ctx, input, sizeof input);
    SHA256_Final(out.data(), &ctx);
    benchmark::DoNotOptimize(out);
  }
}
BENCHMARK(BM_NodeHashLowLevel);

// The writer's share per record: the tree entries of 1,000 leaves (items = leaves).
void BM_BuildTreeEntry(benchmark::State& state) {
  const std::vector<publog::Hash> leaves = some_leaves(1000);
  publog::Frontier frontier;
  storage::TreeEntries entries;
  for (auto _ : state) {
    entries.build(frontier, leaves);
    benchmark::DoNotOptimize(entries.bytes(0).data());
  }
  state.SetItemsProcessed(state.iterations() * 1000);
  state.counters["entries"] = static_cast<double>(entries.size());
}
BENCHMARK(BM_BuildTreeEntry);

// A checkpoint's Ed25519 signature (the key's own verify is not timed).
void BM_SignCheckpoint(benchmark::State& state) {
  auto key = publog::SigningKey::generate();
  if (!key.ok()) {
    state.SkipWithError(key.message().c_str());
    return;
  }
  const publog::Hash root = publog::leaf_hash("root");
  std::uint64_t size = 10'000'000;
  for (auto _ : state) {
    auto checkpoint = key->sign(size++, root, kServerMs);
    benchmark::DoNotOptimize(checkpoint);
  }
}
BENCHMARK(BM_SignCheckpoint);

// A database holding only the public tree, in entries of 1,000 leaves (by default) as VoteLog
// writes them (key seq_key(first seq), in the record's WriteBatch, not synced: the timing of
// interest is the reads). Built on first use, removed when the process exits.
class TreeDb {
 public:
  static TreeDb& get() {
    static TreeDb db;
    return db;
  }
  rocksdb::DB& db() { return *db_; }
  rocksdb::ColumnFamilyHandle* tree_cf() { return handles_[storage::kTreeIndex]; }
  std::uint64_t size() const { return size_; }
  const publog::Hash& root() const { return root_; }
  const storage::UpperTree& upper() const { return upper_; }
  // A leaf kept to check a proof with.
  std::uint64_t checked_index() const { return size_ / 3; }
  const publog::Hash& checked_leaf() const { return checked_leaf_; }

  ~TreeDb() {
    for (auto* handle : handles_) db_->DestroyColumnFamilyHandle(handle);
    db_.reset();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

 private:
  TreeDb() {
    const char* env = std::getenv("PUBLIC_LOG_BENCH_LEAVES");
    size_ = env != nullptr ? std::strtoull(env, nullptr, 10) : 10'000'000;
    const char* entry_env = std::getenv("PUBLIC_LOG_BENCH_ENTRY_LEAVES");
    const std::uint64_t entry_leaves =
        entry_env != nullptr ? std::max<std::uint64_t>(1, std::strtoull(entry_env, nullptr, 10))
                             : 8192;
    std::string pattern =
        (std::filesystem::temp_directory_path() / "tally-publog-bench-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) std::abort();
    dir_ = pattern;
    const auto start = std::chrono::steady_clock::now();
    rocksdb::DBOptions options = storage::write_db_options(dir_, storage::stderr_info_log());
    rocksdb::DB* raw = nullptr;
    rocksdb::Status s =
        rocksdb::DB::Open(options, dir_, storage::column_families(), &handles_, &raw);
    if (!s.ok()) {
      std::fprintf(stderr, "open %s: %s\n", dir_.c_str(), s.ToString().c_str());
      std::abort();
    }
    db_.reset(raw);
    publog::Frontier frontier;
    std::vector<publog::Hash> leaves(entry_leaves);
    storage::TreeEntries entries;
    rocksdb::WriteBatch batch;
    for (std::uint64_t first = 0; first < size_; first += entry_leaves) {
      const std::uint64_t n = std::min(entry_leaves, size_ - first);
      leaves.resize(n);
      for (std::uint64_t i = 0; i < n; ++i) {
        leaves[i] = publog::leaf_hash("event " + std::to_string(first + i));
        if (first + i == checked_index()) checked_leaf_ = leaves[i];
      }
      entries.build(frontier, leaves);
      for (const auto& node : entries.upper()) upper_.add(node.id, node.hash);
      batch.Clear();
      for (std::size_t i = 0; i < entries.size(); ++i) {
        const std::string_view entry = entries.bytes(i);
        batch.Put(tree_cf(), storage::seq_key(entries.first_seq(i)),
                  rocksdb::Slice(entry.data(), entry.size()));
      }
      s = db_->Write(rocksdb::WriteOptions(), &batch);
      if (!s.ok()) {
        std::fprintf(stderr, "write: %s\n", s.ToString().c_str());
        std::abort();
      }
    }
    root_ = frontier.root();
    // As a log that has run a while: its memtables flushed, its compactions done.
    db_->Flush(rocksdb::FlushOptions(), handles_);
    wait_for_compactions();
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::uint64_t sst_bytes = 0;
    db_->GetIntProperty(tree_cf(), "rocksdb.total-sst-files-size", &sst_bytes);
    std::fprintf(stderr,
                 "tree of %llu leaves in records of %llu built in %.1f s; tree family %.1f MB "
                 "of tables\n",
                 static_cast<unsigned long long>(size_),
                 static_cast<unsigned long long>(entry_leaves), seconds,
                 static_cast<double>(sst_bytes) / 1e6);
  }

  // RocksDB 7.8 has no WaitForCompact(): polls its properties instead.
  void wait_for_compactions() {
    for (;;) {
      std::uint64_t pending = 0, running = 0, flushes = 0;
      db_->GetIntProperty(tree_cf(), "rocksdb.compaction-pending", &pending);
      db_->GetIntProperty(tree_cf(), "rocksdb.mem-table-flush-pending", &flushes);
      db_->GetIntProperty("rocksdb.num-running-compactions", &running);
      if (pending == 0 && running == 0 && flushes == 0) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }

  std::string dir_;
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  std::uint64_t size_ = 0;
  publog::Hash root_{};
  storage::UpperTree upper_;
  publog::Hash checked_leaf_{};
};

// Whether the stored tree answers as the frontier did (else the figures would time errors).
bool check_tree(TreeDb& db, benchmark::State& state) {
  static const bool ok = [&db] {
    const storage::StoredTree tree(db.db(), db.tree_cf());
    auto root = publog::root_at(tree, db.size());
    if (!root.ok() || *root != db.root()) return false;
    const std::uint64_t index = db.checked_index();
    auto proof = publog::inclusion_proof(tree, index, db.size());
    return proof.ok() &&
           publog::verify_inclusion(db.checked_leaf(), index, db.size(), *proof, db.root());
  }();
  if (!ok) state.SkipWithError("the stored tree does not give the frontier's root");
  return ok;
}

// Proofs in the tree of the first range(0) leaves of the stored tree, one StoredTree (one
// RocksDB iterator) per proof as the server makes per request. range(1): 0 = every node read
// from storage; 1 = the levels of 256 leaves and up from memory, as tallyd reads them
// (storage/src/upper_tree.h).
template <typename Fn>
void time_proofs(benchmark::State& state, Fn&& one) {
  TreeDb& db = TreeDb::get();
  if (!check_tree(db, state)) return;
  const std::uint64_t size = static_cast<std::uint64_t>(state.range(0));
  if (size > db.size()) {
    state.SkipWithError("PUBLIC_LOG_BENCH_LEAVES is below the size asked for");
    return;
  }
  std::mt19937_64 random(42);
  std::uniform_int_distribution<std::uint64_t> below(0, size - 1);
  std::size_t hashes = 0;
  for (auto _ : state) {
    const std::uint64_t r = below(random);
    const storage::StoredTree stored(db.db(), db.tree_cf());
    if (state.range(1) != 0) {
      hashes += one(storage::TreeNodes(stored, db.upper()), r, size);
    } else {
      hashes += one(stored, r, size);
    }
  }
  state.counters["hashes"] = static_cast<double>(hashes) /
                             static_cast<double>(std::max<std::int64_t>(state.iterations(), 1));
}

void proof_args(benchmark::internal::Benchmark* b) {
  b->ArgNames({"size", "upper"});
  for (const std::int64_t size : {1'000'000, 10'000'000}) b->Args({size, 0});
  b->Args({10'000'000, 1});
  b->Unit(benchmark::kMicrosecond);
}

void BM_InclusionProof(benchmark::State& state) {
  time_proofs(state, [&state](const publog::NodeSource& tree, std::uint64_t r, std::uint64_t size) {
    auto proof = publog::inclusion_proof(tree, r, size);
    if (!proof.ok()) state.SkipWithError(proof.message().c_str());
    return proof.ok() ? proof->size() : 0;
  });
}
BENCHMARK(BM_InclusionProof)->Apply(proof_args);

// From a random old size (1 .. size) to `size`.
void BM_ConsistencyProof(benchmark::State& state) {
  time_proofs(state, [&state](const publog::NodeSource& tree, std::uint64_t r, std::uint64_t size) {
    auto proof = publog::consistency_proof(tree, r + 1, size);
    if (!proof.ok()) state.SkipWithError(proof.message().c_str());
    return proof.ok() ? proof->size() : 0;
  });
}
BENCHMARK(BM_ConsistencyProof)->Apply(proof_args);

// The root of a random prefix (1 .. size leaves).
void BM_RootAt(benchmark::State& state) {
  time_proofs(state, [&state](const publog::NodeSource& tree, std::uint64_t r, std::uint64_t) {
    auto root = publog::root_at(tree, r + 1);
    if (!root.ok()) state.SkipWithError(root.message().c_str());
    return std::size_t{1};
  });
}
BENCHMARK(BM_RootAt)->Apply(proof_args);

}  // namespace

BENCHMARK_MAIN();
