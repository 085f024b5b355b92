// The Traits of PipelinedStream (stream_load.h) for the streams the cases
// drive: the echo stream, one unit per message or a batch per message, and
// WorkService.Process sessions, one Work per message or a WorkBatch.
//
// Each is a set of static functions on the messages alone: stateless, and so
// safe from any thread.
#ifndef PIECES_BENCH_STREAM_TRAITS_H_
#define PIECES_BENCH_STREAM_TRAITS_H_

#include <cstdint>

#include "echo.grpc.pb.h"
#include "pieces/v1/work_service.grpc.pb.h"

namespace pieces::bench {

// The bare echo stream: one unit per message, each answered by one reply.
struct EchoTraits {
  using Request = EchoRequest;
  using Reply = EchoReply;
  static void Fill(Request* request, uint64_t id, uint64_t key) {
    request->set_id(id);
    request->set_key(key);
  }
  static uint64_t Answered(const Reply& /*reply*/) { return 1; }
  static uint64_t Failed(const Reply& /*reply*/) { return 0; }
  static bool FillLast(Request* /*request*/) { return false; }
};

// The bare echo stream with several units per message (StreamBatch).
struct EchoBatchTraits {
  using Request = EchoRequestBatch;
  using Reply = EchoReplyBatch;
  static void Fill(Request* request, uint64_t id, uint64_t key) {
    EchoRequest* one = request->add_requests();
    one->set_id(id);
    one->set_key(key);
  }
  static uint64_t Answered(const Reply& reply) { return reply.replies_size(); }
  static uint64_t Failed(const Reply& /*reply*/) { return 0; }
  static bool FillLast(Request* /*request*/) { return false; }
};

// Process sessions that send one Work per message and end with Exit.
struct ProcessTraits {
  using Request = v1::WorkMsg;
  using Reply = v1::ResultMsg;
  static void Fill(Request* request, uint64_t id, uint64_t key) {
    v1::Work* work = request->mutable_work();
    work->set_id(id);
    work->set_key(key);
  }
  static uint64_t Answered(const Reply& reply) {
    return reply.has_result() ? 1 : 0;
  }
  static uint64_t Failed(const Reply& reply) {
    return reply.has_result() && reply.result().has_error() ? 1 : 0;
  }
  static bool FillLast(Request* request) {
    request->mutable_exit();
    return true;
  }
};

// Process sessions that send WorkBatch messages, and so get ResultBatch ones.
struct ProcessBatchTraits {
  using Request = v1::WorkMsg;
  using Reply = v1::ResultMsg;
  static void Fill(Request* request, uint64_t id, uint64_t key) {
    v1::Work* work = request->mutable_batch()->add_works();
    work->set_id(id);
    work->set_key(key);
  }
  static uint64_t Answered(const Reply& reply) {
    return reply.has_result() ? 1 : reply.batch().results_size();
  }
  static uint64_t Failed(const Reply& reply) {
    uint64_t failed = reply.has_result() && reply.result().has_error() ? 1 : 0;
    for (const v1::Result& result : reply.batch().results()) {
      failed += result.has_error() ? 1 : 0;
    }
    return failed;
  }
  static bool FillLast(Request* request) {
    request->mutable_exit();
    return true;
  }
};

}  // namespace pieces::bench

#endif  // PIECES_BENCH_STREAM_TRAITS_H_
