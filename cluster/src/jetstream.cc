// JetStream over libnats. See jetstream.h.
#include "jetstream.h"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace tally::cluster::internal {

namespace {

std::string nats_reason(natsStatus status) {
  natsStatus last = NATS_OK;
  const char* text = nats_GetLastError(&last);
  std::string reason = natsStatus_GetText(status);
  if (text != nullptr && *text != '\0' && last == status) reason += std::string(": ") + text;
  return reason;
}

Status nats_error(std::string_view call, natsStatus status, jsErrCode code = jsErrCode{}) {
  std::string message = "nats: " + std::string(call) + ": " + nats_reason(status);
  if (code != jsErrCode{})
    message += " (jetstream error " + std::to_string(static_cast<int>(code)) + ")";
  return Status::error(message);
}

// Whether `status` says the cluster could not be asked (as opposed to an answer that refused).
bool unreachable(natsStatus status) {
  switch (status) {
    case NATS_TIMEOUT:
    case NATS_NO_RESPONDERS:
    case NATS_CONNECTION_CLOSED:
    case NATS_CONNECTION_DISCONNECTED:
    case NATS_NOT_YET_CONNECTED:
    case NATS_NO_SERVER:
    case NATS_IO_ERROR: return true;
    default: return false;
  }
}

template <typename T, void (*Destroy)(T*)>
struct Owned {
  T* ptr = nullptr;
  ~Owned() {
    if (ptr != nullptr) Destroy(ptr);
  }
};

constexpr std::int64_t to_ns(std::chrono::nanoseconds duration) { return duration.count(); }

}  // namespace

Result<std::unique_ptr<JetStream>> JetStream::connect(const std::vector<std::string>& servers,
                                                      const std::string& name) {
  std::unique_ptr<JetStream> js(new JetStream());
  Owned<natsOptions, natsOptions_Destroy> options;
  natsStatus s = natsOptions_Create(&options.ptr);
  std::vector<const char*> urls;
  for (const std::string& server : servers) urls.push_back(server.c_str());
  if (s == NATS_OK)
    s = natsOptions_SetServers(options.ptr, urls.data(), static_cast<int>(urls.size()));
  if (s == NATS_OK) s = natsOptions_SetName(options.ptr, name.c_str());
  // A server cut off from its peers keeps a client forever unless pings notice: 2 missed pings
  // of 1 s move it to another server (measured: 6 s instead of 19 s in docs/CLUSTER.md).
  if (s == NATS_OK) s = natsOptions_SetPingInterval(options.ptr, 1000);
  if (s == NATS_OK) s = natsOptions_SetMaxPingsOut(options.ptr, 2);
  if (s == NATS_OK) s = natsOptions_SetMaxReconnect(options.ptr, -1);
  if (s == NATS_OK) s = natsOptions_SetReconnectWait(options.ptr, 250);
  if (s == NATS_OK) s = natsOptions_SetTimeout(options.ptr, 2000);
  // With a callback, Connect returns at once (NATS_NOT_YET_CONNECTED) and connects in the
  // background; without one it would block until a server answers, and a tallyd started while
  // every server is down would neither serve its reads nor stop on SIGTERM.
  if (s == NATS_OK)
    s = natsOptions_SetRetryOnFailedConnect(options.ptr, true, &JetStream::on_connected, nullptr);
  if (s != NATS_OK) return nats_error("options", s);
  s = natsConnection_Connect(&js->connection_, options.ptr);
  if (s != NATS_OK && s != NATS_NOT_YET_CONNECTED) return nats_error("connect", s);
  jsOptions js_options;
  jsOptions_Init(&js_options);
  js_options.Wait = 2000;
  s = natsConnection_JetStream(&js->js_, js->connection_, &js_options);
  if (s != NATS_OK) return nats_error("jetstream", s);
  return js;
}

void JetStream::on_connected(natsConnection* connection, void* /*closure*/) {
  char url[256] = "";
  natsConnection_GetConnectedUrl(connection, url, sizeof url);
  spdlog::info("cluster: connected to NATS server={}", url);
}

JetStream::~JetStream() {
  if (kv_ != nullptr) kvStore_Destroy(kv_);
  if (js_ != nullptr) jsCtx_Destroy(js_);
  if (connection_ != nullptr) {
    natsConnection_Close(connection_);
    natsConnection_Destroy(connection_);
  }
}

Status JetStream::ensure_stream(const StreamSettings& settings) {
  Owned<jsStreamInfo, jsStreamInfo_Destroy> info;
  jsErrCode code{};
  natsStatus s = js_GetStreamInfo(&info.ptr, js_, settings.name.c_str(), nullptr, &code);
  if (s == NATS_OK) return {};
  if (s != NATS_NOT_FOUND && code != JSStreamNotFoundErr) return nats_error("stream info", s, code);
  jsStreamConfig config;
  jsStreamConfig_Init(&config);
  const char* subjects[] = {settings.subject.c_str()};
  config.Name = settings.name.c_str();
  config.Subjects = subjects;
  config.SubjectsLen = 1;
  config.Storage = js_FileStorage;
  config.Replicas = settings.replicas;
  // No limits, and new messages refused rather than old ones dropped: the log is never cut.
  config.Discard = js_DiscardNew;
  config.DenyDelete = true;
  config.DenyPurge = true;
  config.Duplicates = to_ns(settings.duplicate_window);
  config.MaxMsgSize = static_cast<std::int32_t>(settings.max_msg_bytes);
  Owned<jsStreamInfo, jsStreamInfo_Destroy> created;
  s = js_AddStream(&created.ptr, js_, &config, nullptr, &code);
  if (s != NATS_OK && code != JSStreamNameExistErr) return nats_error("add stream", s, code);
  return {};
}

Result<std::uint64_t> JetStream::last_seq(const std::string& stream) {
  Owned<jsStreamInfo, jsStreamInfo_Destroy> info;
  jsErrCode code{};
  natsStatus s = js_GetStreamInfo(&info.ptr, js_, stream.c_str(), nullptr, &code);
  if (s != NATS_OK) return nats_error("stream info", s, code);
  return info.ptr->State.LastSeq;
}

PublishResult JetStream::publish(const std::string& subject, std::string_view data,
                                 const PublishConditions& conditions) {
  jsPubOptions options;
  jsPubOptions_Init(&options);
  const std::string msg_id(conditions.msg_id);
  options.MsgId = msg_id.c_str();
  options.MaxWait = conditions.max_wait.count();
  // libnats reads ExpectLastSeq 0 as "no expectation": an empty stream is expected through the
  // subject's (the stream's only subject) expectation of no message, which the servers also
  // check when they apply it.
  if (conditions.expected_last_seq == 0) {
    options.ExpectNoMessage = true;
  } else {
    options.ExpectLastSeq = conditions.expected_last_seq;
  }
  PublishResult result;
  Owned<jsPubAck, jsPubAck_Destroy> ack;
  result.status = js_Publish(&ack.ptr, js_, subject.c_str(), data.data(),
                             static_cast<int>(data.size()), &options, &result.error_code);
  if (result.status == NATS_OK) {
    result.stream_seq = ack.ptr->Sequence;
    result.duplicate = ack.ptr->Duplicate;
  } else {
    result.text = nats_reason(result.status);
  }
  return result;
}

Result<std::optional<std::string>> JetStream::message_at(const std::string& stream,
                                                         std::uint64_t seq) {
  Owned<natsMsg, natsMsg_Destroy> msg;
  jsErrCode code{};
  natsStatus s = js_GetMsg(&msg.ptr, js_, stream.c_str(), seq, nullptr, &code);
  if (s == NATS_NOT_FOUND) return std::optional<std::string>();
  if (s != NATS_OK) return nats_error("get message " + std::to_string(seq), s, code);
  return std::optional<std::string>(std::in_place, natsMsg_GetData(msg.ptr),
                                    static_cast<std::size_t>(natsMsg_GetDataLength(msg.ptr)));
}

Result<std::string> JetStream::msg_id_at(const std::string& stream, std::uint64_t seq) {
  Owned<natsMsg, natsMsg_Destroy> msg;
  jsErrCode code{};
  natsStatus s = js_GetMsg(&msg.ptr, js_, stream.c_str(), seq, nullptr, &code);
  if (s == NATS_NOT_FOUND) return std::string();
  if (s != NATS_OK) return nats_error("get message", s, code);
  const char* id = nullptr;
  if (natsMsgHeader_Get(msg.ptr, "Nats-Msg-Id", &id) != NATS_OK || id == nullptr) {
    return std::string();
  }
  return std::string(id);
}

Status JetStream::ensure_bucket(const std::string& bucket, int replicas,
                                std::chrono::milliseconds ttl) {
  if (kv_ != nullptr) return {};
  natsStatus s = js_KeyValue(&kv_, js_, bucket.c_str());
  if (s == NATS_OK) return {};
  kv_ = nullptr;
  if (unreachable(s)) return nats_error("key-value bucket", s);
  kvConfig config;
  kvConfig_Init(&config);
  config.Bucket = bucket.c_str();
  config.History = 1;
  config.TTL = to_ns(ttl);
  config.Replicas = replicas;
  config.StorageType = js_FileStorage;
  s = js_CreateKeyValue(&kv_, js_, &config);
  if (s != NATS_OK) {
    kv_ = nullptr;
    return nats_error("create key-value bucket", s);
  }
  return {};
}

Result<std::optional<JetStream::Entry>> JetStream::get(const std::string& key) {
  if (kv_ == nullptr) return Status::error("nats: get: no bucket");
  Owned<kvEntry, kvEntry_Destroy> entry;
  natsStatus s = kvStore_Get(&entry.ptr, kv_, key.c_str());
  if (s == NATS_NOT_FOUND) return std::optional<Entry>();
  if (s != NATS_OK) return nats_error("get " + key, s);
  Entry out;
  out.value.assign(static_cast<const char*>(kvEntry_Value(entry.ptr)),
                   static_cast<std::size_t>(kvEntry_ValueLen(entry.ptr)));
  out.revision = kvEntry_Revision(entry.ptr);
  return std::optional<Entry>(std::move(out));
}

Result<std::optional<std::uint64_t>> JetStream::create(const std::string& key,
                                                       std::string_view value) {
  if (kv_ == nullptr) return Status::error("nats: create: no bucket");
  std::uint64_t revision = 0;
  natsStatus s =
      kvStore_Create(&revision, kv_, key.c_str(), value.data(), static_cast<int>(value.size()));
  if (s == NATS_OK) return std::optional<std::uint64_t>(revision);
  if (unreachable(s)) return nats_error("create " + key, s);
  return std::optional<std::uint64_t>();  // it has a value
}

Result<std::optional<std::uint64_t>> JetStream::update(const std::string& key,
                                                       std::string_view value, std::uint64_t last) {
  if (kv_ == nullptr) return Status::error("nats: update: no bucket");
  std::uint64_t revision = 0;
  natsStatus s = kvStore_Update(&revision, kv_, key.c_str(), value.data(),
                                static_cast<int>(value.size()), last);
  if (s == NATS_OK) return std::optional<std::uint64_t>(revision);
  if (unreachable(s)) return nats_error("update " + key, s);
  return std::optional<std::uint64_t>();  // another revision
}

Status JetStream::erase(const std::string& key) {
  if (kv_ == nullptr) return Status::error("nats: erase: no bucket");
  natsStatus s = kvStore_Delete(kv_, key.c_str());
  if (s != NATS_OK) return nats_error("delete " + key, s);
  return {};
}

}  // namespace tally::cluster::internal
