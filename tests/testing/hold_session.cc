// hold_session: a client for tests of clients that vanish. With
// --service=work it opens one WorkService.Process session to --address and
// sends Work{id 0, key --key}; with --service=main it calls
// MainService.RunStream for the --keys keys from --key on. Then it prints
// "sent" and only reads, keeping the call open until the service ends it (it
// prints "ended: CODE") or the process is killed. A test freezes it with
// SIGSTOP to stand for a client whose host stopped answering: its connection
// stays open, nothing answers on it.
//
// Its channel has no keepalive of its own, so nothing but the service's
// pings can find it out. Built for tests only, never installed.
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "grpcpp/grpcpp.h"
#include "pieces/v1/main_service.grpc.pb.h"
#include "pieces/v1/work_service.grpc.pb.h"

ABSL_FLAG(std::string, address, "", "The service's host:port");
ABSL_FLAG(std::string, service, "work", "work or main");
ABSL_FLAG(uint64_t, key, 1, "The key of the one Work sent, or the first key");
ABSL_FLAG(uint64_t, keys, 1, "With --service=main: how many keys");

namespace {

int HoldRunStream(const std::shared_ptr<grpc::Channel>& channel) {
  auto stub = pieces::v1::MainService::NewStub(channel);
  pieces::v1::RunRequest request;
  for (uint64_t i = 0; i < absl::GetFlag(FLAGS_keys); ++i) {
    request.add_keys(absl::GetFlag(FLAGS_key) + i);
  }
  grpc::ClientContext context;
  std::unique_ptr<grpc::ClientReader<pieces::v1::ResultMsg>> stream =
      stub->RunStream(&context, request);
  std::fprintf(stderr, "hold_session: sent\n");
  pieces::v1::ResultMsg message;
  while (stream->Read(&message)) {
  }
  const grpc::Status status = stream->Finish();
  std::fprintf(stderr, "hold_session: ended: %d %s\n",
               static_cast<int>(status.error_code()),
               status.error_message().c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  std::shared_ptr<grpc::Channel> channel = grpc::CreateChannel(
      absl::GetFlag(FLAGS_address), grpc::InsecureChannelCredentials());
  if (absl::GetFlag(FLAGS_service) == "main") return HoldRunStream(channel);
  auto stub = pieces::v1::WorkService::NewStub(channel);
  grpc::ClientContext context;
  std::unique_ptr<
      grpc::ClientReaderWriter<pieces::v1::WorkMsg, pieces::v1::ResultMsg>>
      stream = stub->Process(&context);
  pieces::v1::WorkMsg work;
  work.mutable_work()->set_id(0);
  work.mutable_work()->set_key(absl::GetFlag(FLAGS_key));
  if (!stream->Write(work)) {
    std::fprintf(stderr, "hold_session: the session ended before the write\n");
    return 1;
  }
  std::fprintf(stderr, "hold_session: sent\n");
  pieces::v1::ResultMsg message;
  while (stream->Read(&message)) {
  }
  const grpc::Status status = stream->Finish();
  std::fprintf(stderr, "hold_session: ended: %d %s\n",
               static_cast<int>(status.error_code()),
               status.error_message().c_str());
  return 0;
}
