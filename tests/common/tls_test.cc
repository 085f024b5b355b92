// TLS, mutual TLS and the --reflection switch (common/tls.h,
// common/server_runner.h), shown on the real binaries. Each test makes its
// own CAs and certificates with the openssl command line in a temporary
// directory, and starts the services on free ports.
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "pieces/v1/main_service.grpc.pb.h"
#include "tests/testing/test_process.h"
#include "tests/testing/work_client.h"

namespace pieces {
namespace {

using ::pieces::testing::StartMainServiceOrFail;
using ::pieces::testing::StartTestProcess;
using ::pieces::testing::StartWorkServiceOrFail;
using ::testing::HasSubstr;

constexpr char kHealthCheck[] = "/grpc.health.v1.Health/Check";
constexpr char kReflectionInfo[] =
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo";
// A ServerReflectionRequest with list_services = "*" (field 7, a string).
constexpr char kListServicesRequest[] = "\x3a\x01*";

// A certificate and its key, as PEM files.
struct KeyPair {
  std::string cert;
  std::string key;
};

// openssl, found on PATH; empty if there is none.
std::string FindOpenssl() {
  const char* path = getenv("PATH");
  for (absl::string_view dir : absl::StrSplit(path ? path : "", ':')) {
    std::string candidate = absl::StrCat(dir, "/openssl");
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

// Makes two independent CAs and certificates signed by them in a fresh
// temporary directory, removed after the test:
//   ca         the deployment's CA          (--tls_ca of both services)
//   server     signed by ca, for localhost  (both services' --tls_cert)
//   client     signed by ca                 (a caller's client certificate)
//   other_ca   a CA nobody trusts
//   stranger   signed by other_ca, for localhost, usable by servers and
//              clients: the right shape, the wrong signer
class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    openssl_ = FindOpenssl();
    ASSERT_FALSE(openssl_.empty())
        << "openssl is not on PATH; scripts/install-deps.sh installs it";
    std::string pattern =
        (std::filesystem::temp_directory_path() / "pieces_tls_XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;

    ASSERT_NO_FATAL_FAILURE(MakeCa("ca", "pieces test CA"));
    ASSERT_NO_FATAL_FAILURE(MakeCa("other_ca", "some other CA"));
    const std::string both = "extendedKeyUsage=serverAuth,clientAuth\n";
    const std::string localhost = "subjectAltName=DNS:localhost,IP:127.0.0.1\n";
    ASSERT_NO_FATAL_FAILURE(MakeCert("server", "ca", localhost + both));
    ASSERT_NO_FATAL_FAILURE(
        MakeCert("client", "ca", "extendedKeyUsage=clientAuth\n"));
    ASSERT_NO_FATAL_FAILURE(MakeCert("stranger", "other_ca", localhost + both));
  }

  void TearDown() override {
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  std::string File(const std::string& name) const {
    return (std::filesystem::path(dir_) / name).string();
  }
  std::string Ca(const std::string& name = "ca") const {
    return File(name + ".pem");
  }
  KeyPair Pair(const std::string& name) const {
    return {File(name + ".pem"), File(name + ".key")};
  }

  // Service flags: TLS with `pair`, and mutual TLS against `ca` if given.
  std::vector<std::string> TlsFlags(const KeyPair& pair,
                                    const std::string& ca = "") const {
    std::vector<std::string> flags = {"--tls_cert=" + pair.cert,
                                      "--tls_key=" + pair.key};
    if (!ca.empty()) flags.push_back("--tls_ca=" + ca);
    return flags;
  }

  // A channel that trusts `ca` and presents `client` (if given) as its
  // certificate. Each channel is a connection of its own, so that one
  // channel's handshake never serves another's calls.
  std::shared_ptr<grpc::Channel> TlsChannel(const std::string& address,
                                            const std::string& ca,
                                            const KeyPair* client) {
    grpc::SslCredentialsOptions options;
    options.pem_root_certs = ReadFile(ca);
    if (client != nullptr) {
      options.pem_cert_chain = ReadFile(client->cert);
      options.pem_private_key = ReadFile(client->key);
    }
    return grpc::CreateCustomChannel(address, grpc::SslCredentials(options),
                                     UniqueArgs());
  }

  std::shared_ptr<grpc::Channel> PlaintextChannel(const std::string& address) {
    return grpc::CreateCustomChannel(
        address, grpc::InsecureChannelCredentials(), UniqueArgs());
  }

 private:
  void Openssl(const std::vector<std::string>& args) {
    absl::StatusOr<std::unique_ptr<ChildProcess>> process =
        StartTestProcess(openssl_, args);
    ASSERT_TRUE(process.ok()) << process.status();
    absl::StatusOr<int> exit_code = (*process)->AwaitExit(absl::Seconds(30));
    ASSERT_TRUE(exit_code.ok()) << exit_code.status();
    ASSERT_EQ(*exit_code, 0)
        << "openssl " << absl::StrJoin(args, " ") << " failed:\n"
        << (*process)->output();
  }

  // Small EC keys: quick to make, and every TLS stack takes them.
  std::vector<std::string> NewKey(const std::string& name) {
    return {"-newkey",          "ec",
            "-pkeyopt",         "ec_paramgen_curve:prime256v1",
            "-nodes",           "-keyout",
            File(name + ".key")};
  }

  void MakeCa(const std::string& name, const std::string& common_name) {
    std::vector<std::string> args = {"req", "-x509"};
    for (std::string& arg : NewKey(name)) args.push_back(arg);
    args.insert(args.end(), {"-out", File(name + ".pem"), "-days", "1", "-subj",
                             "/CN=" + common_name, "-addext",
                             "basicConstraints=critical,CA:TRUE", "-addext",
                             "keyUsage=critical,keyCertSign,cRLSign"});
    Openssl(args);
  }

  void MakeCert(const std::string& name, const std::string& ca,
                const std::string& extensions) {
    std::vector<std::string> request = {"req"};
    for (std::string& arg : NewKey(name)) request.push_back(arg);
    request.insert(request.end(), {"-out", File(name + ".csr"), "-subj",
                                   "/CN=pieces " + name});
    ASSERT_NO_FATAL_FAILURE(Openssl(request));
    std::ofstream(File(name + ".ext")) << extensions;
    ASSERT_NO_FATAL_FAILURE(Openssl(
        {"x509", "-req", "-in", File(name + ".csr"), "-CA", Ca(ca), "-CAkey",
         File(ca + ".key"), "-CAcreateserial", "-days", "1", "-extfile",
         File(name + ".ext"), "-out", File(name + ".pem")}));
  }

  static std::string ReadFile(const std::string& path) {
    std::ifstream file(path);
    return std::string(std::istreambuf_iterator<char>(file), {});
  }

  static grpc::ChannelArguments UniqueArgs() {
    static std::atomic<int> next{0};
    grpc::ChannelArguments args;
    args.SetInt("pieces.test_channel", next.fetch_add(1));
    return args;
  }

  std::string openssl_;
  std::string dir_;
};

// One unary call of `method` with a serialized request, through a generic
// stub: what the health and reflection services answer needs no generated
// code. `response`, if given, receives the serialized reply.
grpc::Status CallRaw(const std::shared_ptr<grpc::Channel>& channel,
                     const std::string& method, const std::string& request,
                     std::string* response = nullptr) {
  grpc::GenericStub stub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(10));
  grpc::Slice slice(request);
  grpc::ByteBuffer request_buffer(&slice, 1);
  grpc::ByteBuffer response_buffer;
  grpc::Status status;
  absl::Notification done;
  stub.UnaryCall(&context, method, grpc::StubOptions(), &request_buffer,
                 &response_buffer, [&](grpc::Status s) {
                   status = std::move(s);
                   done.Notify();
                 });
  done.WaitForNotification();
  if (status.ok() && response != nullptr) {
    std::vector<grpc::Slice> slices;
    response_buffer.Dump(&slices).IgnoreError();
    response->clear();
    for (const grpc::Slice& s : slices) {
      response->append(reinterpret_cast<const char*>(s.begin()), s.size());
    }
  }
  return status;
}

// grpc.health.v1.Health/Check for the whole server: a call every server of
// this project answers, whatever its services.
grpc::Status CheckHealth(const std::shared_ptr<grpc::Channel>& channel) {
  std::string response;
  grpc::Status status = CallRaw(channel, kHealthCheck, "", &response);
  // HealthCheckResponse{status: SERVING}.
  if (status.ok() && response != "\x08\x01") {
    return grpc::Status(grpc::StatusCode::INTERNAL, "not SERVING");
  }
  return status;
}

grpc::Status CallRun(const std::shared_ptr<grpc::Channel>& channel,
                     const std::vector<uint64_t>& keys, v1::RunReply* reply) {
  auto stub = v1::MainService::NewStub(channel);
  v1::RunRequest request;
  for (uint64_t key : keys) request.add_keys(key);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(20));
  return stub->Run(&context, request, reply);
}

grpc::Status CallGetStats(const std::shared_ptr<grpc::Channel>& channel,
                          v1::Stats* stats = nullptr) {
  auto stub = v1::WorkService::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(10));
  v1::Stats reply;
  grpc::Status status = stub->GetStats(&context, v1::GetStatsRequest(), &reply);
  if (stats != nullptr) *stats = reply;
  return status;
}

// (a) The whole path encrypted and authenticated: caller → main with mutual
// TLS, main → work with mutual TLS.
TEST_F(TlsTest, MutualTlsFromCallerThroughMainToWork) {
  ServiceProcess work = StartWorkServiceOrFail(TlsFlags(Pair("server"), Ca()));
  std::vector<std::string> main_flags = TlsFlags(Pair("server"), Ca());
  main_flags.push_back("--work_address=" + work.address);
  ServiceProcess main = StartMainServiceOrFail(main_flags);
  ASSERT_TRUE(work.process && main.process);

  const KeyPair client = Pair("client");
  v1::RunReply reply;
  grpc::Status status =
      CallRun(TlsChannel(main.address, Ca(), &client), {4, 7, 4}, &reply);
  ASSERT_TRUE(status.ok()) << status.error_code() << ": "
                           << status.error_message();
  ASSERT_EQ(reply.results_size(), 3);
  EXPECT_EQ(reply.results(0).value(), 4u);
  EXPECT_EQ(reply.results(1).value(), 7u);
  EXPECT_EQ(reply.results(2).performed(), v1::PERFORMED_FROM_CACHE);

  // main requires a client certificate too: without one, no call gets in.
  status = CallRun(TlsChannel(main.address, Ca(), nullptr), {1}, &reply);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE)
      << status.error_message();
}

// (b) A server with TLS speaks nothing else; a TLS client gets through.
TEST_F(TlsTest, PlaintextClientFailsAgainstTlsServer) {
  ServiceProcess work = StartWorkServiceOrFail(TlsFlags(Pair("server")));
  std::vector<std::string> main_flags = TlsFlags(Pair("server"));
  main_flags.push_back("--work_address=" + work.address);
  ServiceProcess main = StartMainServiceOrFail(main_flags);
  ASSERT_TRUE(work.process && main.process);

  for (const ServiceProcess* service : {&work, &main}) {
    SCOPED_TRACE(service->address);
    grpc::Status plaintext = CheckHealth(PlaintextChannel(service->address));
    EXPECT_EQ(plaintext.error_code(), grpc::StatusCode::UNAVAILABLE)
        << plaintext.error_message();
    // TLS without a client certificate: the servers do not ask for one.
    grpc::Status tls = CheckHealth(TlsChannel(service->address, Ca(), nullptr));
    EXPECT_TRUE(tls.ok()) << tls.error_code() << ": " << tls.error_message();
  }
}

// (c) Mutual TLS admits only certificates signed by --tls_ca.
TEST_F(TlsTest, ClientCertificateFromAnotherCaIsRefusedByWork) {
  ServiceProcess work = StartWorkServiceOrFail(TlsFlags(Pair("server"), Ca()));
  ASSERT_TRUE(work.process);

  const KeyPair stranger = Pair("stranger");
  grpc::Status status = CallGetStats(TlsChannel(work.address, Ca(), &stranger));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE)
      << status.error_message();
  status = CallGetStats(TlsChannel(work.address, Ca(), nullptr));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE)
      << status.error_message();

  const KeyPair client = Pair("client");
  status = CallGetStats(TlsChannel(work.address, Ca(), &client));
  EXPECT_TRUE(status.ok()) << status.error_code() << ": "
                           << status.error_message();
}

// (d) main_service whose client certificate work_service does not accept:
// Run is UNAVAILABLE and names work_service, and no session reaches it.
TEST_F(TlsTest, MainWithWrongClientCertificateGetsUnavailableNamingWork) {
  ServiceProcess work = StartWorkServiceOrFail(TlsFlags(Pair("server"), Ca()));
  // main verifies work against the right CA but presents a certificate of
  // another CA, which is also the one it serves its callers with.
  std::vector<std::string> main_flags = TlsFlags(Pair("stranger"), Ca());
  main_flags.push_back("--work_address=" + work.address);
  ServiceProcess main = StartMainServiceOrFail(main_flags);
  ASSERT_TRUE(work.process && main.process);

  const KeyPair client = Pair("client");
  v1::RunReply reply;
  grpc::Status status = CallRun(
      TlsChannel(main.address, Ca("other_ca"), &client), {1, 2}, &reply);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE)
      << status.error_message();
  EXPECT_THAT(status.error_message(),
              HasSubstr("work_service at " + work.address));

  v1::Stats stats;
  status = CallGetStats(TlsChannel(work.address, Ca(), &client), &stats);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(stats.sessions_total(), 0u);
}

// (d') main_service without TLS towards work_service with TLS: the same.
TEST_F(TlsTest, PlaintextMainTowardsMutualTlsWorkGetsUnavailableNamingWork) {
  ServiceProcess work = StartWorkServiceOrFail(TlsFlags(Pair("server"), Ca()));
  ServiceProcess main =
      StartMainServiceOrFail({"--work_address=" + work.address});
  ASSERT_TRUE(work.process && main.process);

  v1::RunReply reply;
  grpc::Status status = CallRun(PlaintextChannel(main.address), {1}, &reply);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE)
      << status.error_message();
  EXPECT_THAT(status.error_message(),
              HasSubstr("work_service at " + work.address));
}

// (e) --reflection=false: the reflection service is gone, the rest stays.
TEST_F(TlsTest, ReflectionCanBeSwitchedOff) {
  struct Case {
    std::string service_name;
    ServiceProcess (*start)(std::vector<std::string>);
  };
  for (const Case& c :
       {Case{"pieces.v1.WorkService", &StartWorkServiceOrFail},
        Case{"pieces.v1.MainService", &StartMainServiceOrFail}}) {
    SCOPED_TRACE(c.service_name);
    ServiceProcess on = c.start({});
    ServiceProcess off = c.start({"--reflection=false"});
    ASSERT_TRUE(on.process && off.process);

    std::string listing;
    grpc::Status status = CallRaw(PlaintextChannel(on.address), kReflectionInfo,
                                  kListServicesRequest, &listing);
    ASSERT_TRUE(status.ok())
        << status.error_code() << ": " << status.error_message();
    EXPECT_THAT(listing, HasSubstr(c.service_name));

    status = CallRaw(PlaintextChannel(off.address), kReflectionInfo,
                     kListServicesRequest);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNIMPLEMENTED)
        << status.error_message();
    status = CheckHealth(PlaintextChannel(off.address));
    EXPECT_TRUE(status.ok()) << status.error_message();
  }
}

// Bad TLS flags stop either program at start with exit code 2 and a message
// that names the problem.
TEST_F(TlsTest, BadTlsFlagsStopTheProgramWithExitCodeTwo) {
  const KeyPair server = Pair("server");
  struct Case {
    std::vector<std::string> flags;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"--tls_cert=" + server.cert}, "--tls_cert needs --tls_key"},
      {{"--tls_key=" + server.key}, "--tls_key needs --tls_cert"},
      {{"--tls_ca=" + Ca()}, "--tls_ca (verify peers' certificates) needs"},
      {{"--tls_cert=" + File("missing.pem"), "--tls_key=" + server.key},
       "--tls_cert: cannot read " + File("missing.pem")},
      {{"--tls_cert=" + server.cert, "--tls_key=" + File("server.ext")},
       "holds no PEM block"},
      {{"--tls_cert=" + server.cert, "--tls_key=" + server.key,
        "--tls_ca=" + File("missing.pem")},
       "--tls_ca: cannot read"},
  };
  for (const std::string& binary :
       {testing::WorkServiceBinary(), testing::MainServiceBinary()}) {
    for (const Case& c : cases) {
      SCOPED_TRACE(absl::StrCat(binary, " ", absl::StrJoin(c.flags, " ")));
      std::vector<std::string> flags = c.flags;
      flags.push_back("--port=0");
      absl::StatusOr<std::unique_ptr<ChildProcess>> process =
          StartTestProcess(binary, flags);
      ASSERT_TRUE(process.ok()) << process.status();
      absl::StatusOr<int> exit_code = (*process)->AwaitExit(absl::Seconds(20));
      ASSERT_TRUE(exit_code.ok()) << exit_code.status();
      EXPECT_EQ(*exit_code, 2);
      EXPECT_THAT((*process)->output(), HasSubstr(c.message));
      EXPECT_THAT((*process)->output(), ::testing::Not(HasSubstr("listening")));
    }
  }
}

}  // namespace
}  // namespace pieces
