// ThreadSanitizer support for Debian's abseil: linked only into builds with
// -fsanitize=thread (see common/CMakeLists.txt).
//
// Why: Debian's libabsl_synchronization is not built with ThreadSanitizer, so
// TSan cannot see that absl::Mutex orders the code around it, and reports
// every guarded access, in our code and inside gRPC (whose locks are absl
// Mutexes too), as a data race. An instrumented abseil cannot be had from
// Debian's packages.
//
// What: this file defines the public locking entry points of absl::Mutex and
// absl::CondVar in the executable. The dynamic linker then binds every call to
// them (ours, gRPC's and abseil's own) here. Each forwards to the real
// function, found with dlsym(RTLD_NEXT), and tells TSan what it did: a
// release on the mutex's address before it lets go of the lock, an acquire
// after it has taken it. Only happens-before edges are added; no locking
// behaviour changes. The symbol names are those of Debian's abseil 20220623
// (inline namespace debian3); a mismatch fails loudly at the first call.
#include <dlfcn.h>
#include <sanitizer/tsan_interface.h>

#include <cstdio>
#include <cstdlib>

#include "absl/synchronization/mutex.h"

namespace {

template <typename Fn>
Fn Real(const char* symbol) {
  void* real = dlsym(RTLD_NEXT, symbol);
  if (real == nullptr) {
    fprintf(stderr, "absl_sync_annotations: %s not found: %s\n", symbol,
            dlerror());
    abort();
  }
  return reinterpret_cast<Fn>(real);
}

// The real function named `symbol`, of type `Fn`, looked up once.
#define PIECES_REAL(Fn, symbol) static const auto real = Real<Fn>(symbol)

// abseil evaluates a waiter's Condition on whichever thread holds the lock at
// the time, inside its own code, where the edges on the mutex's address are
// not in place. So every acquire and release, and every evaluation, also goes
// through this one address. That orders all lock operations of the process
// against each other: it can hide a real race between code under two
// different mutexes, never report a false one.
char condition_sync;

void Acquire(const void* mu) {
  __tsan_acquire(const_cast<void*>(mu));
  __tsan_acquire(&condition_sync);
}

void Release(const void* mu) {
  __tsan_release(const_cast<void*>(mu));
  __tsan_release(&condition_sync);
}

}  // namespace

namespace absl {
ABSL_NAMESPACE_BEGIN

// Taking the lock: acquire after.
void Mutex::Lock() {
  PIECES_REAL(void (*)(Mutex*), "_ZN4absl7debian35Mutex4LockEv");
  real(this);
  Acquire(this);
}
void Mutex::ReaderLock() {
  PIECES_REAL(void (*)(Mutex*), "_ZN4absl7debian35Mutex10ReaderLockEv");
  real(this);
  Acquire(this);
}
bool Mutex::TryLock() {
  PIECES_REAL(bool (*)(Mutex*), "_ZN4absl7debian35Mutex7TryLockEv");
  const bool locked = real(this);
  if (locked) Acquire(this);
  return locked;
}
bool Mutex::ReaderTryLock() {
  PIECES_REAL(bool (*)(Mutex*), "_ZN4absl7debian35Mutex13ReaderTryLockEv");
  const bool locked = real(this);
  if (locked) Acquire(this);
  return locked;
}
void Mutex::LockWhen(const Condition& cond) {
  PIECES_REAL(void (*)(Mutex*, const Condition&),
              "_ZN4absl7debian35Mutex8LockWhenERKNS0_9ConditionE");
  real(this, cond);
  Acquire(this);
}
void Mutex::ReaderLockWhen(const Condition& cond) {
  PIECES_REAL(void (*)(Mutex*, const Condition&),
              "_ZN4absl7debian35Mutex14ReaderLockWhenERKNS0_9ConditionE");
  real(this, cond);
  Acquire(this);
}
// The *WithTimeout/*WithDeadline forms hold the lock on return either way.
bool Mutex::LockWhenWithTimeout(const Condition& cond, absl::Duration timeout) {
  PIECES_REAL(bool (*)(Mutex*, const Condition&, absl::Duration),
              "_ZN4absl7debian35Mutex19LockWhenWithTimeoutERKNS0_"
              "9ConditionENS0_8DurationE");
  const bool met = real(this, cond, timeout);
  Acquire(this);
  return met;
}
bool Mutex::LockWhenWithDeadline(const Condition& cond, absl::Time deadline) {
  PIECES_REAL(bool (*)(Mutex*, const Condition&, absl::Time),
              "_ZN4absl7debian35Mutex20LockWhenWithDeadlineERKNS0_"
              "9ConditionENS0_4TimeE");
  const bool met = real(this, cond, deadline);
  Acquire(this);
  return met;
}
bool Mutex::ReaderLockWhenWithTimeout(const Condition& cond,
                                      absl::Duration timeout) {
  PIECES_REAL(bool (*)(Mutex*, const Condition&, absl::Duration),
              "_ZN4absl7debian35Mutex25ReaderLockWhenWithTimeoutERKNS0_"
              "9ConditionENS0_8DurationE");
  const bool met = real(this, cond, timeout);
  Acquire(this);
  return met;
}
bool Mutex::ReaderLockWhenWithDeadline(const Condition& cond,
                                       absl::Time deadline) {
  PIECES_REAL(bool (*)(Mutex*, const Condition&, absl::Time),
              "_ZN4absl7debian35Mutex26ReaderLockWhenWithDeadlineERKNS0_"
              "9ConditionENS0_4TimeE");
  const bool met = real(this, cond, deadline);
  Acquire(this);
  return met;
}

// Letting go: release before.
void Mutex::Unlock() {
  PIECES_REAL(void (*)(Mutex*), "_ZN4absl7debian35Mutex6UnlockEv");
  Release(this);
  real(this);
}
void Mutex::ReaderUnlock() {
  PIECES_REAL(void (*)(Mutex*), "_ZN4absl7debian35Mutex12ReaderUnlockEv");
  Release(this);
  real(this);
}

// Waiting lets go of the lock and takes it again: both.
void Mutex::Await(const Condition& cond) {
  PIECES_REAL(void (*)(Mutex*, const Condition&),
              "_ZN4absl7debian35Mutex5AwaitERKNS0_9ConditionE");
  Release(this);
  real(this, cond);
  Acquire(this);
}
bool Mutex::AwaitWithTimeout(const Condition& cond, absl::Duration timeout) {
  PIECES_REAL(bool (*)(Mutex*, const Condition&, absl::Duration),
              "_ZN4absl7debian35Mutex16AwaitWithTimeoutERKNS0_9ConditionENS0_"
              "8DurationE");
  Release(this);
  const bool met = real(this, cond, timeout);
  Acquire(this);
  return met;
}
bool Mutex::AwaitWithDeadline(const Condition& cond, absl::Time deadline) {
  PIECES_REAL(
      bool (*)(Mutex*, const Condition&, absl::Time),
      "_ZN4absl7debian35Mutex17AwaitWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  Release(this);
  const bool met = real(this, cond, deadline);
  Acquire(this);
  return met;
}
void CondVar::Wait(Mutex* mu) {
  PIECES_REAL(void (*)(CondVar*, Mutex*),
              "_ZN4absl7debian37CondVar4WaitEPNS0_5MutexE");
  Release(mu);
  real(this, mu);
  Acquire(mu);
}
bool CondVar::WaitWithTimeout(Mutex* mu, absl::Duration timeout) {
  PIECES_REAL(
      bool (*)(CondVar*, Mutex*, absl::Duration),
      "_ZN4absl7debian37CondVar15WaitWithTimeoutEPNS0_5MutexENS0_8DurationE");
  Release(mu);
  const bool timed_out = real(this, mu, timeout);
  Acquire(mu);
  return timed_out;
}
bool CondVar::WaitWithDeadline(Mutex* mu, absl::Time deadline) {
  PIECES_REAL(
      bool (*)(CondVar*, Mutex*, absl::Time),
      "_ZN4absl7debian37CondVar16WaitWithDeadlineEPNS0_5MutexENS0_4TimeE");
  Release(mu);
  const bool timed_out = real(this, mu, deadline);
  Acquire(mu);
  return timed_out;
}

// Evaluating a Condition, on any thread, is ordered like a lock operation.
bool Condition::Eval() const {
  PIECES_REAL(bool (*)(const Condition*), "_ZNK4absl7debian39Condition4EvalEv");
  __tsan_acquire(&condition_sync);
  const bool met = real(this);
  __tsan_release(&condition_sync);
  return met;
}

ABSL_NAMESPACE_END
}  // namespace absl
