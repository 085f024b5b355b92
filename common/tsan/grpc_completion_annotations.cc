// ThreadSanitizer support for Debian's gRPC: linked only into builds with
// -fsanitize=thread (see common/CMakeLists.txt), next to
// absl_sync_annotations.cc.
//
// Why: gRPC promises that an operation's completion happens after the call
// that started it: a reaction such as OnReadDone runs after the StartRead
// that asked for it, so the reactions of one stream are ordered, and the
// grpcpp code inlined into our programs (CallOpSet, CallbackWithSuccessTag)
// may reuse its objects from one operation to the next. Debian's libgrpc is
// not built with ThreadSanitizer, and between the start and the completion
// it hands the operation over through lock-free queues and atomics that TSan
// cannot see. So TSan reports every such handover, in grpcpp's inline code and
// in our reactions alike, as a data race when the completion runs on another
// thread than the start.
//
// What: this file defines, in the executable, the entry points through which
// every operation passes; the dynamic linker binds to them the calls from
// libgrpc++ (which makes them for grpcpp's inline code, on behalf of every
// reactor and every synchronous call) and from libgrpc itself. Each forwards
// to the real function, found with dlsym(RTLD_NEXT), and tells TSan the edge
// gRPC provides: grpc_call_start_batch releases on the operation's tag before
// starting it; grpc_cq_end_op, where gRPC's core hands a finished operation
// (and the buffers and status it produced) to its completion queue, releases
// on the tag too; grpc_completion_queue_next and grpc_completion_queue_pluck
// acquire on the tag of the completion they return, before the caller
// (grpcpp's callback threads, or a synchronous call) touches anything. Only
// happens-before edges are added, and only the ones gRPC's API guarantees.
// The callback API's completions reach reactors the same way: with gRPC
// 1.51's default poller on Linux, grpcpp runs them on its "nexting_thread"s,
// which take them from grpc_completion_queue_next. (A gRPC that ran them
// straight from core would bypass these edges, and TSan would report again.)
// grpc_cq_end_op is an internal C++ symbol of Debian's libgrpc 1.51 (its
// error is an absl::Status, inline namespace debian3); if its signature
// changes, this definition no longer matches and the edge silently goes
// away, so TSan reports again: it cannot hide anything.
#include <dlfcn.h>
#include <grpc/grpc.h>
#include <sanitizer/tsan_interface.h>

#include <cstdio>
#include <cstdlib>
#include <utility>

#include "absl/status/status.h"

// gRPC core's per-completion storage; only passed through here.
struct grpc_cq_completion;

namespace {

template <typename Fn>
Fn Real(const char* symbol) {
  void* real = dlsym(RTLD_NEXT, symbol);
  if (real == nullptr) {
    fprintf(stderr, "grpc_completion_annotations: %s not found: %s\n", symbol,
            dlerror());
    abort();
  }
  return reinterpret_cast<Fn>(real);
}

// A completion returned to the application: acquire what its start released.
grpc_event Completed(grpc_event event) {
  if (event.type == GRPC_OP_COMPLETE) __tsan_acquire(event.tag);
  return event;
}

}  // namespace

extern "C" {

grpc_call_error grpc_call_start_batch(grpc_call* call, const grpc_op* ops,
                                      size_t nops, void* tag, void* reserved) {
  static const auto real =
      Real<grpc_call_error (*)(grpc_call*, const grpc_op*, size_t, void*,
                               void*)>("grpc_call_start_batch");
  __tsan_release(tag);
  return real(call, ops, nops, tag, reserved);
}

grpc_event grpc_completion_queue_next(grpc_completion_queue* cq,
                                      gpr_timespec deadline, void* reserved) {
  static const auto real =
      Real<grpc_event (*)(grpc_completion_queue*, gpr_timespec, void*)>(
          "grpc_completion_queue_next");
  return Completed(real(cq, deadline, reserved));
}

grpc_event grpc_completion_queue_pluck(grpc_completion_queue* cq, void* tag,
                                       gpr_timespec deadline, void* reserved) {
  static const auto real =
      Real<grpc_event (*)(grpc_completion_queue*, void*, gpr_timespec, void*)>(
          "grpc_completion_queue_pluck");
  return Completed(real(cq, tag, deadline, reserved));
}

}  // extern "C"

// Declared in gRPC's src/core/lib/surface/completion_queue.h, not installed.
void grpc_cq_end_op(grpc_completion_queue* cq, void* tag, absl::Status error,
                    void (*done)(void* done_arg, grpc_cq_completion* storage),
                    void* done_arg, grpc_cq_completion* storage,
                    bool internal) {
  using Fn = void (*)(grpc_completion_queue*, void*, absl::Status,
                      void (*)(void*, grpc_cq_completion*), void*,
                      grpc_cq_completion*, bool);
  static const auto real = Real<Fn>(
      "_Z14grpc_cq_end_opP21grpc_completion_queuePvN4absl7debian36StatusEPFvS1_"
      "P18grpc_cq_completionES1_S6_b");
  __tsan_release(tag);
  real(cq, tag, std::move(error), done, done_arg, storage, internal);
}
