#include "main_service/work_replicas.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/logging/event_log.h"
#include "main_service/rendezvous.h"

namespace pieces {
namespace {

// Splits "host:port" / "[ip6]:port" into host (without brackets) and port.
absl::Status ParseEntry(absl::string_view target, std::string* host,
                        std::string* port) {
  const absl::string_view what = target;
  absl::ConsumePrefix(&target, "dns:///");
  const size_t colon = target.rfind(':');
  if (colon == absl::string_view::npos || colon == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "'", what, "' is not host:port (e.g. work_service:50052)"));
  }
  absl::string_view h = target.substr(0, colon);
  const absl::string_view p = target.substr(colon + 1);
  if (absl::ConsumePrefix(&h, "[") && !absl::ConsumeSuffix(&h, "]")) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", what, "': an IPv6 address needs its closing ']'"));
  }
  uint32_t number;
  if (h.empty() || !absl::SimpleAtoi(p, &number) || number == 0 ||
      number > 65535) {
    return absl::InvalidArgumentError(absl::StrCat(
        "'", what, "' is not host:port with a port from 1 to 65535"));
  }
  *host = std::string(h);
  *port = std::string(p);
  return absl::OkStatus();
}

// The replica named `name` in `replicas`, or null.
const WorkReplica* Find(
    const std::vector<std::shared_ptr<const WorkReplica>>& replicas,
    const std::string& name) {
  for (const auto& replica : replicas) {
    if (replica->name == name) return replica.get();
  }
  return nullptr;
}

// A duration as a channel argument in milliseconds: INT_MAX (gRPC's "never")
// for an infinite or too long one.
int MillisecondsArgument(absl::Duration duration) {
  return static_cast<int>(std::clamp<int64_t>(
      absl::ToInt64Milliseconds(duration), 0, std::numeric_limits<int>::max()));
}

bool IsIpLiteral(const std::string& host) {
  unsigned char buffer[sizeof(struct in6_addr)];
  return inet_pton(AF_INET, host.c_str(), buffer) == 1 ||
         inet_pton(AF_INET6, host.c_str(), buffer) == 1;
}

}  // namespace

absl::StatusOr<std::vector<std::string>> ResolveDns(const std::string& host,
                                                    const std::string& port) {
  struct addrinfo hints = {};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  struct addrinfo* found = nullptr;
  const int error = getaddrinfo(host.c_str(), port.c_str(), &hints, &found);
  if (error == EAI_NONAME) {
    // An answer, not a failure: the name has no address (every replica of a
    // Compose service or Kubernetes Service is gone).
    return absl::NotFoundError(
        absl::StrCat("cannot resolve '", host, "': ", gai_strerror(error)));
  }
  if (error != 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot resolve '", host, "': ", gai_strerror(error)));
  }
  std::vector<std::string> v4, v6;
  for (const struct addrinfo* a = found; a != nullptr; a = a->ai_next) {
    char text[INET6_ADDRSTRLEN];
    if (a->ai_family == AF_INET) {
      const auto* in = reinterpret_cast<const struct sockaddr_in*>(a->ai_addr);
      inet_ntop(AF_INET, &in->sin_addr, text, sizeof(text));
      v4.push_back(absl::StrCat(text, ":", port));
    } else if (a->ai_family == AF_INET6) {
      const auto* in6 =
          reinterpret_cast<const struct sockaddr_in6*>(a->ai_addr);
      inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof(text));
      v6.push_back(absl::StrCat("[", text, "]:", port));
    }
  }
  freeaddrinfo(found);
  std::vector<std::string>& names = v4.empty() ? v6 : v4;
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  if (names.empty()) {
    return absl::UnavailableError(
        absl::StrCat("'", host, "' has no IPv4 or IPv6 address"));
  }
  return std::move(names);
}

absl::StatusOr<std::unique_ptr<WorkReplicas>> WorkReplicas::Create(
    Options options) {
  std::vector<Entry> entries;
  for (absl::string_view target :
       absl::StrSplit(options.targets, ',', absl::SkipWhitespace())) {
    target = absl::StripAsciiWhitespace(target);
    Entry entry;
    entry.target = std::string(target);
    absl::Status parsed = ParseEntry(target, &entry.host, &entry.port);
    if (!parsed.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--work_address: ", parsed.message()));
    }
    entry.host_is_ip = IsIpLiteral(entry.host);
    entries.push_back(std::move(entry));
  }
  if (entries.empty()) {
    return absl::InvalidArgumentError(
        "--work_address is empty; give host:port[,host:port...]");
  }
  if (!options.resolver) options.resolver = ResolveDns;
  std::unique_ptr<WorkReplicas> replicas(
      new WorkReplicas(std::move(options), std::move(entries)));
  replicas->Refresh();
  replicas->thread_ = std::thread([r = replicas.get()] { r->RefreshLoop(); });
  return replicas;
}

WorkReplicas::WorkReplicas(Options options, std::vector<Entry> entries)
    : options_(std::move(options)), entries_(std::move(entries)) {
  absl::MutexLock lock(&mu_);
  view_ = std::make_shared<const ReplicaView>();
}

WorkReplicas::~WorkReplicas() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

std::shared_ptr<const ReplicaView> WorkReplicas::View() const {
  absl::MutexLock lock(&mu_);
  return view_;
}

void WorkReplicas::RequestRefresh() {
  absl::MutexLock lock(&mu_);
  refresh_requested_ = true;
}

void WorkReplicas::CloseLinks(absl::Time deadline) {
  std::vector<std::shared_ptr<ReplicaLink>> links;
  {
    absl::MutexLock lock(&refresh_mu_);
    links = links_;
  }
  // Every link ends its sessions at once; then each is waited for.
  for (const auto& link : links) link->StartClose();
  ReplicaLink::Closed all;
  for (const auto& link : links) {
    const ReplicaLink::Closed closed = link->AwaitClosed(deadline);
    all.exited += closed.exited;
    all.cancelled += closed.cancelled;
  }
  LogEvent("links_closed",
           absl::StrFormat("main_service: sessions to work_service closed: "
                           "%zu ended with Exited, %zu cancelled at the "
                           "deadline",
                           all.exited, all.cancelled),
           {{"exited", uint64_t{all.exited}},
            {"cancelled", uint64_t{all.cancelled}}});
}

void WorkReplicas::ReportUnavailable(const std::string& name,
                                     const std::string& why) {
  {
    absl::MutexLock lock(&mu_);
    refresh_requested_ = true;
    auto at = std::lower_bound(down_.begin(), down_.end(), name);
    if (Find(replicas_, name) == nullptr ||
        (at != down_.end() && *at == name)) {
      return;
    }
    down_.insert(at, name);
    PublishLocked();
  }
  LogEvent("replica_down",
           absl::StrCat("main_service: work replica ", name, " is down: ",
                        why.empty() ? "reported unavailable" : why),
           {{"replica", name}, {"why", why}}, LogLevel::kWarning);
}

std::shared_ptr<const WorkReplica> WorkReplicas::NewReplica(
    const Entry& entry, const std::string& name) const {
  grpc::ChannelArguments args;
  // Reconnect soon after a replica comes back, instead of gRPC's default
  // backoff of up to two minutes.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 250);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 250);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  // A replica that stops answering (frozen, or its host gone without closing
  // the connection) would otherwise hold its units, and the calls waiting
  // for them, forever: TCP alone does not notice. Pings go out whether or
  // not calls are open and however long no data flowed (gRPC's default
  // stops after 2 pings without data), so the check never lapses.
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS,
              MillisecondsArgument(options_.keepalive_time));
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS,
              MillisecondsArgument(options_.keepalive_timeout));
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  std::shared_ptr<grpc::ChannelCredentials> credentials = options_.credentials;
  if (credentials == nullptr) {
    credentials = grpc::InsecureChannelCredentials();
  } else if (!entry.host_is_ip) {
    // The channel dials the address; the certificate names the host.
    args.SetSslTargetNameOverride(entry.host);
  }
  auto replica = std::make_shared<WorkReplica>();
  replica->name = name;
  replica->target = entry.target;
  replica->hash = ReplicaNameHash(name);
  replica->channel = grpc::CreateCustomChannel(name, credentials, args);
  replica->stub = v1::WorkService::NewStub(replica->channel);
  replica->link =
      std::make_shared<ReplicaLink>(name, replica->channel, options_.link);
  return replica;
}

void WorkReplicas::Refresh() {
  absl::MutexLock refresh_lock(&refresh_mu_);
  // Resolve with no lock but refresh_mu_ held: DNS may take a while.
  std::vector<std::string> names;
  std::vector<const Entry*> name_entries;
  for (Entry& entry : entries_) {
    absl::StatusOr<std::vector<std::string>> resolved =
        options_.resolver(entry.host, entry.port);
    if (resolved.ok()) {
      entry.names = *std::move(resolved);
      entry.error.clear();
    } else {
      // NOT_FOUND means the name has no replica now; any other failure (a
      // DNS timeout) keeps the last answer.
      if (absl::IsNotFound(resolved.status())) entry.names.clear();
      entry.error = std::string(resolved.status().message());
    }
    for (const std::string& name : entry.names) {
      names.push_back(name);
      name_entries.push_back(&entry);
    }
  }
  std::vector<std::string> errors;
  for (const Entry& entry : entries_) {
    if (!entry.error.empty()) errors.push_back(entry.error);
  }

  std::vector<std::shared_ptr<const WorkReplica>> old;
  {
    absl::MutexLock lock(&mu_);
    old = replicas_;
  }
  // Keep the replicas (and channels) that are still there; make the new ones.
  std::vector<std::shared_ptr<const WorkReplica>> next;
  for (size_t i = 0; i < names.size(); ++i) {
    if (Find(next, names[i]) != nullptr) continue;  // Two entries, one address.
    auto same = std::find_if(old.begin(), old.end(),
                             [&](const std::shared_ptr<const WorkReplica>& r) {
                               return r->name == names[i];
                             });
    if (same != old.end()) {
      next.push_back(*same);
    } else {
      next.push_back(NewReplica(*name_entries[i], names[i]));
      links_.push_back(next.back()->link);
    }
  }
  std::sort(next.begin(), next.end(),
            [](const std::shared_ptr<const WorkReplica>& a,
               const std::shared_ptr<const WorkReplica>& b) {
              return a->name < b->name;
            });
  // Links of replicas that have left go once nothing else holds them (no
  // view, no session): here, on this thread, not on a gRPC thread.
  links_.erase(std::remove_if(links_.begin(), links_.end(),
                              [&](const std::shared_ptr<ReplicaLink>& link) {
                                return link.use_count() == 1 &&
                                       Find(next, link->name()) == nullptr;
                              }),
               links_.end());

  // A down replica is up again once it answers: one GetStats with a short
  // deadline, which also makes its channel reconnect. (Asking the channel's
  // state instead proved slow: an idle channel's connection attempts made
  // only by GetState(true) were shut down for seconds.)
  std::vector<std::string> down;
  {
    absl::MutexLock lock(&mu_);
    down = down_;
  }
  std::vector<std::string> recovered;
  for (const std::string& name : down) {
    const WorkReplica* replica = Find(next, name);
    if (replica == nullptr) continue;  // Gone from DNS: dropped below.
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(1));
    v1::Stats stats;
    if (replica->stub->GetStats(&context, v1::GetStatsRequest(), &stats).ok()) {
      recovered.push_back(name);
    }
  }

  absl::MutexLock lock(&mu_);
  replicas_ = std::move(next);
  // Drop from down_ what answered or left DNS; keep what was reported down
  // while this ran.
  std::vector<std::string> still_down;
  for (const std::string& name : down_) {
    if (Find(replicas_, name) != nullptr &&
        std::find(recovered.begin(), recovered.end(), name) ==
            recovered.end()) {
      still_down.push_back(name);
    }
  }
  down_ = std::move(still_down);
  resolve_error_ = absl::StrJoin(errors, "; ");
  PublishLocked();
  // Logged under mu_, on the refreshing thread only, and rarely: a replica
  // that comes back.
  for (const std::string& name : recovered) {
    if (Find(replicas_, name) == nullptr) continue;
    LogEvent("replica_up",
             absl::StrCat("main_service: work replica ", name,
                          " is up again: it answered GetStats"),
             {{"replica", name}, {"why", "answered GetStats"}});
  }
}

void WorkReplicas::PublishLocked() {
  auto view = std::make_shared<ReplicaView>();
  view->replicas = replicas_;
  view->resolve_error = resolve_error_;
  std::vector<std::string> described;
  for (const auto& replica : replicas_) {
    const bool down =
        std::binary_search(down_.begin(), down_.end(), replica->name);
    view->down.push_back(down);
    described.push_back(down ? absl::StrCat(replica->name, " (down)")
                             : replica->name);
  }
  view_ = std::move(view);
  std::string line =
      absl::StrCat("main_service: work replicas for ", options_.targets, ": ",
                   described.empty() ? "none" : absl::StrJoin(described, ", "));
  if (!resolve_error_.empty())
    absl::StrAppend(&line, " (", resolve_error_, ")");
  if (line != published_) {
    // Rare (a change), so written under mu_, which keeps the lines in order.
    LogEvent("replicas", line,
             {{"targets", options_.targets},
              {"replicas", absl::StrJoin(described, ", ")},
              {"error", resolve_error_}});
    published_ = std::move(line);
  }
}

void WorkReplicas::RefreshLoop() {
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      // Sooner while something is wrong: a replica down or none at all.
      const absl::Duration wait =
          (down_.empty() && !replicas_.empty() && resolve_error_.empty())
              ? options_.resolve_interval
              : std::min(options_.resolve_interval, options_.retry_interval);
      auto wake = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stopping_ || refresh_requested_;
      };
      mu_.AwaitWithTimeout(absl::Condition(&wake), wait);
      if (stopping_) return;
      refresh_requested_ = false;
    }
    Refresh();
  }
}

}  // namespace pieces
