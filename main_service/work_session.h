// The client side of one WorkService.Process session, as main_service runs
// it: sends Work{id, key} for every unit it is given, in WorkBatch messages,
// the last one with the half-close (which is the session's Exit), and passes
// every ResultMsg the work service sends (ResultBatch messages, then the
// Exited) to a Listener.
//
// Threads: the reactions run on gRPC's threads. Listener::OnMessage is called
// for one message at a time, in arrival order; Listener::OnSessionDone once,
// after every OnMessage. The session deletes itself before calling
// OnSessionDone, so the listener may free everything from there.
#ifndef PIECES_MAIN_SERVICE_WORK_SESSION_H_
#define PIECES_MAIN_SERVICE_WORK_SESSION_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "grpcpp/grpcpp.h"
#include "pieces/v1/work_service.grpc.pb.h"

namespace pieces {

class WorkSession final
    : public grpc::ClientBidiReactor<v1::WorkMsg, v1::ResultMsg> {
 public:
  class Listener {
   public:
    virtual ~Listener() = default;
    // A message from the work service: a Result or the Exited. The listener
    // may take the contents of `message`: the session reads the next message
    // into it afterwards.
    virtual void OnMessage(v1::ResultMsg* message) = 0;
    // The session is over, with the status of the Process call.
    virtual void OnSessionDone(const grpc::Status& status) = 0;
  };

  // One unit to send.
  struct Unit {
    uint64_t id;
    uint64_t key;
  };

  // Starts a session on `stub` and returns; the session frees itself.
  // `units` must not be empty. `context` (which sets the deadline and can
  // cancel) and `listener` must stay alive until OnSessionDone.
  static void Start(v1::WorkService::Stub* stub, grpc::ClientContext* context,
                    std::vector<Unit> units, Listener* listener);

  void OnWriteDone(bool ok) override;
  void OnReadDone(bool ok) override;
  void OnDone(const grpc::Status& status) override;

 private:
  WorkSession(std::vector<Unit> units, Listener* listener);
  ~WorkSession() override = default;

  // Writes the next batch of keys; the last one half-closes. Only the write
  // path (Start, then OnWriteDone) calls it: one write in flight.
  void WriteNext();

  // Units per WorkBatch message.
  static constexpr size_t kWorksPerBatch = 512;

  // Constant after construction.
  const std::vector<Unit> units_;
  Listener* const listener_;

  // Used only by the write path.
  size_t next_ = 0;  // The index of the next unit to send.
  v1::WorkMsg out_;
  // Used only by the read path.
  v1::ResultMsg in_;
};

}  // namespace pieces

#endif  // PIECES_MAIN_SERVICE_WORK_SESSION_H_
