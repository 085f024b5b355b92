// The work_service replicas main_service routes to, found from
// --work_address: a comma-separated list of "host:port" entries, each a name
// that may resolve to several addresses (a scaled Compose service, a Swarm
// "tasks.NAME", a Kubernetes headless Service) or an IP literal.
//
// Each resolved address ("10.0.0.3:50052", "[::1]:50052") is one replica, with
// its own channel. A name's IPv4 addresses are used, or its IPv6 addresses if
// it has no IPv4 one, so that "localhost" is one replica, not two.
//
// A background thread resolves the names again every resolve_interval, and
// at once after a replica is reported unavailable. A name that does not
// exist (NXDOMAIN: every replica is gone) has no replica; a name whose
// resolution fails otherwise (a DNS timeout) keeps the addresses it had, so a
// DNS hiccup never empties the set.
// A replica reported unavailable is left out of routing (but still listed)
// until it answers a GetStats again, which the thread tries every
// retry_interval with a deadline of 1 s (the channel reconnects with a
// backoff of at most 1 s). A replica that is there but does not answer (a
// frozen process) is found out by the channel's keepalive, and then stays
// down: each check fails at its deadline.
//
// Thread safety: every method may be called from any thread. View() is a
// snapshot that stays valid (and its channels open) while it is held.
#ifndef PIECES_MAIN_SERVICE_WORK_REPLICAS_H_
#define PIECES_MAIN_SERVICE_WORK_REPLICAS_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "main_service/replica_link.h"
#include "pieces/v1/work_service.grpc.pb.h"

namespace pieces {

// One replica: a resolved address and its channel.
struct WorkReplica {
  // "ip:port" ("[ip6]:port" for IPv6): the replica's name. Rendezvous hashing
  // uses it, so every main_service routes a key to the same replica.
  std::string name;
  // The --work_address entry it was resolved from, e.g. "work_service:50052".
  std::string target;
  uint64_t hash = 0;  // ReplicaNameHash(name).
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<v1::WorkService::Stub> stub;
  // The shared Process sessions to it, over `channel`.
  std::shared_ptr<ReplicaLink> link;
};

// The replicas at one moment. Immutable.
struct ReplicaView {
  // Every known replica, sorted by name.
  std::vector<std::shared_ptr<const WorkReplica>> replicas;
  // down[i]: replicas[i] was reported unavailable and has not answered
  // since. Routing leaves it out while another replica is up.
  std::vector<bool> down;
  // Why the last resolution of some entry failed; empty when all resolved.
  std::string resolve_error;
};

class WorkReplicas {
 public:
  // Resolves "host" for "port": the replica names ("ip:port") it stands for,
  // NOT_FOUND when it has none, or another error when resolution failed.
  using Resolver = std::function<absl::StatusOr<std::vector<std::string>>(
      const std::string& host, const std::string& port)>;

  struct Options {
    // --work_address: "host:port[,host:port...]"; "dns:///" before an entry
    // is accepted and ignored.
    std::string targets = "localhost:50052";
    // Null means plaintext. With TLS, each replica's certificate is checked
    // against the entry's host name, not the resolved address.
    std::shared_ptr<grpc::ChannelCredentials> credentials;
    absl::Duration resolve_interval = absl::Seconds(5);
    absl::Duration retry_interval = absl::Milliseconds(500);
    // How each replica's shared sessions are used.
    ReplicaLink::Options link;
    // HTTP/2 keepalive on each replica's channel: a ping every
    // keepalive_time (calls open or not); a replica that does not answer one
    // within keepalive_timeout has its connection closed, so its sessions
    // fail with UNAVAILABLE (their units go elsewhere, and it is reported
    // down) instead of waiting forever on a process that is frozen or a
    // host that vanished. work_service accepts pings every
    // kMinClientPingInterval (common/server_runner.h), no more often.
    absl::Duration keepalive_time = absl::Seconds(1);
    absl::Duration keepalive_timeout = absl::Seconds(2);
    // Null: DNS (getaddrinfo). Tests give their own.
    Resolver resolver;
  };

  // INVALID_ARGUMENT when `targets` is malformed. Resolves once before
  // returning; a name that does not resolve yet is retried in the background.
  static absl::StatusOr<std::unique_ptr<WorkReplicas>> Create(Options options);

  ~WorkReplicas();  // Stops the background thread.

  // The current replicas.
  std::shared_ptr<const ReplicaView> View() const ABSL_LOCKS_EXCLUDED(mu_);

  // A session to the replica named `name` failed as if the replica were gone
  // (UNAVAILABLE, saying `why`): route around it until it answers again, and
  // re-resolve now. Logs the replica going down (event replica_down), and
  // later its coming back (replica_up).
  void ReportUnavailable(const std::string& name, const std::string& why = "")
      ABSL_LOCKS_EXCLUDED(mu_);

  // Asks the background thread to resolve the names now (a call found no
  // replica to use).
  void RequestRefresh() ABSL_LOCKS_EXCLUDED(mu_);

  // Resolves every entry and checks the replicas that are down, now, on the
  // calling thread; returns when done.
  void Refresh() ABSL_LOCKS_EXCLUDED(refresh_mu_, mu_);

  // Ends the shared sessions of every replica, including those that have
  // left (ReplicaLink::Close): each
  // sends Exit once its units are answered. Returns once all have ended, or
  // after cancelling those left at `deadline`.
  void CloseLinks(absl::Time deadline) ABSL_LOCKS_EXCLUDED(mu_);

  const std::string& targets() const { return options_.targets; }

 private:
  // One --work_address entry.
  struct Entry {
    std::string target;  // "host:port" as given.
    std::string host;    // Without brackets.
    std::string port;
    bool host_is_ip = false;
    std::vector<std::string> names;  // Its replicas at the last success.
    std::string error;               // Why the last resolution failed.
  };

  explicit WorkReplicas(Options options, std::vector<Entry> entries);
  void RefreshLoop() ABSL_LOCKS_EXCLUDED(mu_);
  std::shared_ptr<const WorkReplica> NewReplica(const Entry& entry,
                                                const std::string& name) const;
  // Makes view_ from replicas_, down_ and resolve_error_, and logs a change.
  void PublishLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Constant after construction.
  const Options options_;

  // Held for a whole Refresh, so that two never interleave. Taken before mu_.
  absl::Mutex refresh_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  std::vector<Entry> entries_ ABSL_GUARDED_BY(refresh_mu_);
  // The link of every replica made, kept until this is destroyed, or until
  // its replica has left and nothing else holds it: the last reference to a
  // link, and to its channel, is then dropped on the program's thread or
  // the refresh thread, never on a gRPC thread (a session ending there),
  // where gRPC cannot join its own threads.
  std::vector<std::shared_ptr<ReplicaLink>> links_ ABSL_GUARDED_BY(refresh_mu_);

  mutable absl::Mutex mu_;
  // Every replica, sorted by name, and which are down.
  std::vector<std::shared_ptr<const WorkReplica>> replicas_
      ABSL_GUARDED_BY(mu_);
  std::vector<std::string> down_ ABSL_GUARDED_BY(mu_);  // Names, sorted.
  // Why the last resolution of some entry failed; empty when none did.
  std::string resolve_error_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<const ReplicaView> view_ ABSL_GUARDED_BY(mu_);
  std::string published_ ABSL_GUARDED_BY(mu_);  // What was logged last.
  bool refresh_requested_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;

  std::thread thread_;  // Runs RefreshLoop.
};

// Resolves `host` with getaddrinfo: its IPv4 addresses, or its IPv6 ones if
// it has none, as replica names "ip:port" / "[ip6]:port", sorted, no repeats.
// NOT_FOUND when the name does not exist; UNAVAILABLE when DNS fails.
absl::StatusOr<std::vector<std::string>> ResolveDns(const std::string& host,
                                                    const std::string& port);

}  // namespace pieces

#endif  // PIECES_MAIN_SERVICE_WORK_REPLICAS_H_
