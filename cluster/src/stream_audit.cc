// A data dir against its stream. See tally/cluster/stream_audit.h.
#include "tally/cluster/stream_audit.h"

#include "tally/storage/audit.h"
#include "jetstream.h"
#include "stream_names.h"

namespace tally::cluster {

Result<StreamComparison> compare_with_stream(const std::vector<std::string>& servers,
                                             const std::string& shard,
                                             const std::string& data_dir) {
  auto js = internal::JetStream::connect(servers, "tallyctl compare-stream");
  if (!js.ok()) return js.status();
  const internal::StreamSettings stream = internal::stream_of(shard, 1);
  auto last = (*js)->last_seq(stream.name);
  if (!last.ok()) return last.status();
  StreamComparison out;
  out.stream_records = *last;
  Status read_error;
  auto status =
      storage::for_each_record(data_dir, [&](std::uint64_t first_seq, std::string_view record) {
        const std::uint64_t stream_seq = ++out.local_records;
        if (stream_seq > out.stream_records) {
          out.problems.push_back("record of seq " + std::to_string(first_seq) +
                                 ": the stream ends at " + std::to_string(out.stream_records) +
                                 " (the data dir runs ahead of the stream)");
          return false;
        }
        auto message = (*js)->message_at(stream.name, stream_seq);
        if (!message.ok()) {
          read_error = message.status();
          return false;
        }
        if (!message->has_value()) {
          out.problems.push_back("stream seq " + std::to_string(stream_seq) +
                                 ": the stream has no message there");
          return false;
        }
        if (**message != record) {
          out.problems.push_back("stream seq " + std::to_string(stream_seq) +
                                 ": differs from the "
                                 "data dir's record of seq " +
                                 std::to_string(first_seq));
          return false;
        }
        ++out.matching;
        return true;
      });
  if (!status.ok()) return status;
  if (!read_error.ok()) return read_error;
  return out;
}

}  // namespace tally::cluster
