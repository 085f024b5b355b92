// The MainService implementation: each Run or RunStream call becomes one
// WorkService.Process session on the work service (see work_session.h).
//
// Run collects the results and answers with them in request order; RunStream
// forwards each as it arrives, then the Exited. The caller's deadline and
// cancellation carry over to the work session.
//
// Thread safety: gRPC calls Run and RunStream on its own threads; nothing in
// them blocks. The object must outlive the server that serves it.
#ifndef PIECES_MAIN_SERVICE_MAIN_SERVICE_H_
#define PIECES_MAIN_SERVICE_MAIN_SERVICE_H_

#include <cstddef>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "grpcpp/grpcpp.h"
#include "pieces/v1/main_service.grpc.pb.h"
#include "pieces/v1/work_service.grpc.pb.h"

namespace pieces {

class MainServiceImpl final : public v1::MainService::CallbackService {
 public:
  struct Options {
    // Where work_service listens, as a gRPC target ("host:port").
    std::string work_address = "localhost:50052";
    // The most keys one request may carry.
    size_t max_keys = 100000;
    // How to reach work_service: TLS or plaintext (see MakeChannelCredentials
    // in common/tls.h). Null means plaintext.
    std::shared_ptr<grpc::ChannelCredentials> work_credentials;
  };

  explicit MainServiceImpl(const Options& options);

  grpc::ServerUnaryReactor* Run(grpc::CallbackServerContext* context,
                                const v1::RunRequest* request,
                                v1::RunReply* reply) override;

  grpc::ServerWriteReactor<v1::ResultMsg>* RunStream(
      grpc::CallbackServerContext* context,
      const v1::RunRequest* request) override;

  // INVALID_ARGUMENT, saying why, when `request` cannot be run.
  absl::Status Validate(const v1::RunRequest& request) const;

  // The status to give a caller whose work session ended with `status`: it
  // names the work service's address.
  grpc::Status WorkError(const grpc::Status& status) const;

  v1::WorkService::Stub* work_stub() { return stub_.get(); }

 private:
  // Constant after construction.
  const Options options_;
  const std::shared_ptr<grpc::Channel> channel_;
  const std::unique_ptr<v1::WorkService::Stub> stub_;
};

}  // namespace pieces

#endif  // PIECES_MAIN_SERVICE_MAIN_SERVICE_H_
