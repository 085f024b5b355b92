// Conversion of absl::Status to grpc::Status at the RPC edge. gRPC 1.51 has
// none of its own. Both use the google.rpc.Code numbering, so the code maps
// one to one.
#ifndef PIECES_COMMON_GRPC_STATUS_H_
#define PIECES_COMMON_GRPC_STATUS_H_

#include <string>

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace pieces {

inline grpc::Status ToGrpcStatus(const absl::Status& status) {
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                      std::string(status.message()));
}

// The name of canonical status code `code` as gRPC and absl spell it
// ("UNAVAILABLE" for 14), or nullptr for a number that names none.
const char* StatusCodeName(int code);

}  // namespace pieces

#endif  // PIECES_COMMON_GRPC_STATUS_H_
