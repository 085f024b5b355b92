// Starting main_service in front of work_service replicas, as real processes,
// and checking what a Run answered. For tests.
//
//   Pair pair = StartPair({"--work=echo"});
//   v1::RunReply reply;
//   ASSERT_TRUE(CallRun(*pair.stub, KeyRange(0, 100), &reply).ok());
//   ExpectAnswersInOrder(KeyRange(0, 100), reply);
#ifndef PIECES_TESTS_TESTING_CLUSTER_H_
#define PIECES_TESTS_TESTING_CLUSTER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/process/child_process.h"
#include "pieces/v1/main_service.grpc.pb.h"

namespace pieces::testing {

// A work_service and a main_service in front of it.
struct Pair {
  ServiceProcess work;
  ServiceProcess main;
  std::unique_ptr<v1::MainService::Stub> stub;
};

// Starts work_service with `work_flags`, then main_service with `main_flags`
// and --work_address set to it; fails the test if either does not start.
Pair StartPair(std::vector<std::string> work_flags,
               std::vector<std::string> main_flags = {});

// Several work_service replicas and one main_service in front of them, given
// the replicas as a comma-separated --work_address.
struct Cluster {
  std::vector<ServiceProcess> works;
  ServiceProcess main;
  std::unique_ptr<v1::MainService::Stub> stub;
  std::string work_address;
};

// One replica per entry of `flags`, each started with its flags.
Cluster StartCluster(const std::vector<std::vector<std::string>>& flags,
                     std::vector<std::string> main_flags = {});
// `replicas` replicas, all started with `work_flags`.
Cluster StartCluster(int replicas, const std::vector<std::string>& work_flags,
                     std::vector<std::string> main_flags = {});

// The keys first, first + 1, ..., first + count - 1.
std::vector<uint64_t> KeyRange(uint64_t first, uint64_t count);

// Expects `reply` to answer `keys` in request order, each with value = key
// (echo and sleep work) and no error.
void ExpectAnswersInOrder(const std::vector<uint64_t>& keys,
                          const v1::RunReply& reply);

}  // namespace pieces::testing

#endif  // PIECES_TESTS_TESTING_CLUSTER_H_
