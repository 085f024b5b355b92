#include "tests/testing/main_client.h"

#include <chrono>

namespace pieces::testing {

std::unique_ptr<v1::MainService::Stub> NewMainStub(const std::string& address) {
  return v1::MainService::NewStub(
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
}

v1::RunRequest RunRequestOf(const std::vector<uint64_t>& keys) {
  v1::RunRequest request;
  for (uint64_t key : keys) request.add_keys(key);
  return request;
}

grpc::Status CallRun(v1::MainService::Stub& stub, const v1::RunRequest& request,
                     v1::RunReply* reply, absl::Duration timeout) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       absl::ToChronoNanoseconds(timeout));
  return stub.Run(&context, request, reply);
}

grpc::Status CallRun(v1::MainService::Stub& stub,
                     const std::vector<uint64_t>& keys, v1::RunReply* reply,
                     absl::Duration timeout) {
  return CallRun(stub, RunRequestOf(keys), reply, timeout);
}

}  // namespace pieces::testing
