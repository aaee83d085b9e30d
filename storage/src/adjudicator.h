// Adjudicator: writes the log's late flags and the committee's decisions (DESIGN.md
// "Adjudication", docs/FRAUD.md "Late flags"), on a thread of its own, off the vote path.
//
// Data flow: the fraud monitor tells crossed() that a cluster passed its threshold (on the vote
// path: the crossing is queued, or dropped and counted when the queue is full) -> the thread
// waits a moment for votes in flight to commit, scans the log from the earliest window's start
// (found by server time) to the last crossing, meeting each vote only with the crossings of its
// own address, subnet and device, collects each cluster's votes that lack the flag's reason
// (their stored flags and marks say which), and writes one flag event per cluster through the
// log's writer, waiting for each. Decisions (submit_decision) are resolved and written on the
// same thread, so that flags and decisions never race on a vote's marks.
//
// Memory: at most kMaxCrossings queued crossings (each under 1.5 KiB: the agent is at most
// 1 KiB) and kMaxDecisions queued decisions, plus the votes of one pass while it runs. Nothing
// grows with the log: marks live in RocksDB (vote_marks.h). Private to storage/.
//
// Threads: crossed() runs on the ingest threads (the vote path: it queues and returns),
// submit_decision() and decisions_json() on any thread, stop() on the log's owner; everything
// else on the adjudicator's own thread.
#pragma once

#include <rocksdb/db.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tally/engine/adjudication.h"
#include "tally/engine/engine.h"
#include "tally/engine/fraud.h"
#include "tally/publog/public_event.h"
#include "tally/storage/internal/commit_pipeline.h"
#include "tally/storage/vote_log.h"

namespace tally::storage {

class Adjudicator final : public engine::CrossingListener, public engine::Adjudication {
 public:
  static constexpr std::size_t kMaxCrossings = 1024;
  static constexpr std::size_t kMaxDecisions = 64;
  // Most votes one decision by cluster changes (16 bytes each while it is written: 64 MiB).
  static constexpr std::size_t kMaxClusterVotes = std::size_t{1} << 22;

  struct Ports {
    rocksdb::DB* db = nullptr;
    rocksdb::ColumnFamilyHandle* events_cf = nullptr;
    rocksdb::ColumnFamilyHandle* marks_cf = nullptr;
    const engine::Engine* engine = nullptr;
    const publog::TagKeyring* keyring = nullptr;  // null: events get no public leaf
    // Queues an event with the log's writer.
    std::function<engine::SubmitResult(internal::PendingEvent&)> submit;
    // A seq at or before the first vote judged at a server time.
    std::function<std::uint64_t(std::int64_t)> seq_before;
    // The decisions written so far, as Adjudication::decisions_json() answers.
    std::function<std::string(std::string_view)> decisions_json;
    // Whether this node may write now (a replica group's primary with a fresh lease); empty:
    // always (a node alone, whose writer refuses by itself once stopped or failed).
    std::function<bool()> writable;
  };
  struct Options {
    // How long a crossing waits before its scan, for the votes judged before it to commit.
    // Default: 1 s.
    std::chrono::milliseconds settle{1000};
    // Least time between two passes for late flags (a pass also waits nine times as long as
    // the last one took): crossings that arrive meanwhile wait and share the next one, which
    // bounds the scanning under a long attack to about a tenth of a core. Default: 3 s.
    std::chrono::milliseconds between_scans{3000};
  };

  Adjudicator(Ports ports, Options options);
  ~Adjudicator();
  // Finishes what it is writing, answers queued decisions `unavailable`, joins the thread.
  void stop();

  void crossed(engine::ClusterCrossing crossing) override;
  bool submit_decision(engine::DecisionRequest request, engine::DecisionWaiter& waiter,
                       engine::DecisionStatus& refusal) override;
  std::string decisions_json(std::string_view campaign) const override;

  AdjudicationFigures figures() const;

 private:
  struct QueuedDecision {
    engine::DecisionRequest request;
    engine::DecisionWaiter* waiter = nullptr;
  };
  void run();
  bool stopping() const {
    std::lock_guard lock(mutex_);
    return stopping_;
  }
  void flag(std::vector<engine::ClusterCrossing>& crossings);
  engine::DecisionAnswer decide(const engine::DecisionRequest& request);
  // Writes a flag or decision event and waits for it; its seq, or 0 when the log refused it.
  std::uint64_t write(const StoredEvent& event);
  // Each event of the log from the record holding `from_seq` on; `each` returns false to stop.
  Status scan(std::uint64_t from_seq, const std::function<bool(const StoredEvent&)>& each) const;

  Ports ports_;
  Options options_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<engine::ClusterCrossing> crossings_;  // guarded by mutex_
  std::deque<QueuedDecision> decisions_;           // guarded by mutex_
  bool stopping_ = false;                          // guarded by mutex_
  // Counters; relaxed: statistics, ordered with nothing.
  std::atomic<std::uint64_t> crossings_heard_{0};
  std::atomic<std::uint64_t> crossings_dropped_{0};
  std::atomic<std::uint64_t> crossings_lost_{0};
  std::atomic<std::uint64_t> flag_events_{0};
  std::atomic<std::uint64_t> votes_flagged_{0};
  std::atomic<std::uint64_t> decision_events_{0};
  mutable std::atomic<std::uint64_t> scans_{0};  // mutable: scan() counts
  mutable std::atomic<std::uint64_t> scanned_events_{0};
  std::thread thread_;
};

}  // namespace tally::storage
