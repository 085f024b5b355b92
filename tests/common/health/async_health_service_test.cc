// The health service on a completion queue (common/health): what Check and
// Watch answer, through a real server in the process whose one thread takes
// the queue's events, as work_service's does.
#include "common/health/async_health_service.h"

#include <memory>
#include <string>
#include <thread>

#include "common/completion_tag.h"
#include "gtest/gtest.h"

namespace pieces {
namespace {

using grpc::health::v1::Health;
using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

// A server serving only the health service, on one queue and thread.
class HealthServer {
 public:
  HealthServer() {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port);
    builder.RegisterService(&service_);
    cq_ = builder.AddCompletionQueue();
    server_ = builder.BuildAndStart();
    service_.StartServing(cq_.get());
    thread_ = std::thread([this] {
      void* tag;
      bool ok;
      while (cq_->Next(&tag, &ok))
        static_cast<CompletionTag*>(tag)->Complete(ok);
    });
    stub_ = Health::NewStub(
        grpc::CreateChannel("127.0.0.1:" + std::to_string(port),
                            grpc::InsecureChannelCredentials()));
  }
  ~HealthServer() {
    // Cancels the calls still open (watches) at once.
    server_->Shutdown(std::chrono::system_clock::now());
    cq_->Shutdown();
    thread_.join();
  }

  AsyncHealthService& service() { return service_; }
  Health::Stub& stub() { return *stub_; }

  // Check's answer for `name`: the status, or the call's error.
  std::string Check(const std::string& name) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(10));
    HealthCheckRequest request;
    request.set_service(name);
    HealthCheckResponse response;
    grpc::Status status = stub_->Check(&context, request, &response);
    if (!status.ok()) {
      return "error " + std::to_string(status.error_code()) + ": " +
             status.error_message();
    }
    return HealthCheckResponse::ServingStatus_Name(response.status());
  }

 private:
  AsyncHealthService service_;
  std::unique_ptr<grpc::ServerCompletionQueue> cq_;
  std::unique_ptr<grpc::Server> server_;
  std::thread thread_;
  std::unique_ptr<Health::Stub> stub_;
};

// One Watch call; Next reads its next status (or says it ended).
class Watch {
 public:
  Watch(Health::Stub& stub, const std::string& name) {
    context_.set_deadline(std::chrono::system_clock::now() +
                          std::chrono::seconds(30));
    HealthCheckRequest request;
    request.set_service(name);
    reader_ = stub.Watch(&context_, request);
  }
  ~Watch() {
    context_.TryCancel();
    HealthCheckResponse ignored;
    while (reader_->Read(&ignored)) {
    }
    reader_->Finish().ok();
  }
  std::string Next() {
    HealthCheckResponse response;
    if (!reader_->Read(&response)) return "ended";
    return HealthCheckResponse::ServingStatus_Name(response.status());
  }

 private:
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReader<HealthCheckResponse>> reader_;
};

TEST(AsyncHealthServiceTest, TheServerIsServingAndAnUnknownNameIsNotFound) {
  HealthServer server;
  EXPECT_EQ(server.Check(""), "SERVING");
  EXPECT_EQ(server.Check("pieces.v1.Nothing"),
            "error 5: unknown service \"pieces.v1.Nothing\"");
}

TEST(AsyncHealthServiceTest, CheckAnswersWhatWasSetLast) {
  HealthServer server;
  server.service().SetServingStatus("pieces.v1.WorkService", true);
  EXPECT_EQ(server.Check("pieces.v1.WorkService"), "SERVING");
  server.service().SetServingStatus(false);
  EXPECT_EQ(server.Check(""), "NOT_SERVING");
  EXPECT_EQ(server.Check("pieces.v1.WorkService"), "NOT_SERVING");
  server.service().SetServingStatus(true);
  EXPECT_EQ(server.Check(""), "SERVING");
  server.service().SetServingStatus("pieces.v1.WorkService", false);
  EXPECT_EQ(server.Check("pieces.v1.WorkService"), "NOT_SERVING");
  EXPECT_EQ(server.Check(""), "SERVING");
}

TEST(AsyncHealthServiceTest, AfterShutdownEverythingIsNotServingForGood) {
  HealthServer server;
  server.service().SetServingStatus("pieces.v1.WorkService", true);
  server.service().Shutdown();
  server.service().SetServingStatus(true);
  server.service().SetServingStatus("pieces.v1.WorkService", true);
  EXPECT_EQ(server.Check(""), "NOT_SERVING");
  EXPECT_EQ(server.Check("pieces.v1.WorkService"), "NOT_SERVING");
}

TEST(AsyncHealthServiceTest, WatchSendsTheStatusThenEachChange) {
  HealthServer server;
  Watch watch(server.stub(), "");
  EXPECT_EQ(watch.Next(), "SERVING");
  // Each change is seen before the next is made, so none is merged away.
  server.service().SetServingStatus(false);
  EXPECT_EQ(watch.Next(), "NOT_SERVING");
  server.service().SetServingStatus(true);
  EXPECT_EQ(watch.Next(), "SERVING");
  server.service().Shutdown();
  EXPECT_EQ(watch.Next(), "NOT_SERVING");
}

// A change made while the watcher is still writing the previous one is
// written when that write completes, so a watcher always ends on the latest
// status. Each trial watches a new name (first SERVICE_UNKNOWN), then sets it
// SERVING and at once NOT_SERVING: the second change comes while SERVING (or
// SERVICE_UNKNOWN) is being written, unless the server's thread took the
// write's completion in between, which is rare; a watcher that lost it would
// wait for NOT_SERVING until the call's deadline. 20 trials, so that the
// rare interleaving cannot hide a lost change in all of them.
TEST(AsyncHealthServiceTest, AChangeDuringAWriteIsWrittenAfterIt) {
  HealthServer server;
  for (int trial = 0; trial < 20; ++trial) {
    const std::string name = "pieces.v1.Trial" + std::to_string(trial);
    Watch watch(server.stub(), name);
    ASSERT_EQ(watch.Next(), "SERVICE_UNKNOWN");
    server.service().SetServingStatus(name, true);
    server.service().SetServingStatus(name, false);
    // SERVING may be merged away; NOT_SERVING must come.
    std::string status = watch.Next();
    if (status == "SERVING") status = watch.Next();
    ASSERT_EQ(status, "NOT_SERVING") << "trial " << trial;
  }
}

TEST(AsyncHealthServiceTest, WatchOfAnUnknownNameSeesItBecomeKnown) {
  HealthServer server;
  Watch watch(server.stub(), "pieces.v1.WorkService");
  EXPECT_EQ(watch.Next(), "SERVICE_UNKNOWN");
  server.service().SetServingStatus("pieces.v1.WorkService", true);
  EXPECT_EQ(watch.Next(), "SERVING");
}

TEST(AsyncHealthServiceTest, ManyWatchesEndedByTheirClientsOrTheServer) {
  // Watches that clients end, and watches still open when the server
  // stops: each is freed (the sanitizer builds' leak check) and the server
  // stops at once (its destructor gives the calls no grace).
  auto server = std::make_unique<HealthServer>();
  for (int i = 0; i < 20; ++i) {
    Watch watch(server->stub(), "");
    EXPECT_EQ(watch.Next(), "SERVING");
  }
  Watch open1(server->stub(), "");
  Watch open2(server->stub(), "x");
  EXPECT_EQ(open1.Next(), "SERVING");
  EXPECT_EQ(open2.Next(), "SERVICE_UNKNOWN");
  server.reset();
  EXPECT_EQ(open1.Next(), "ended");
  EXPECT_EQ(open2.Next(), "ended");
}

}  // namespace
}  // namespace pieces
