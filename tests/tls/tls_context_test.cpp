// SslContext configuration: files and PEM text, CA files and hashed directories, and the
// errors that name the file and the reason.
#include <gtest/gtest.h>
#include <openssl/ssl.h>

#include <string>

#include "tls/tls_test_support.hpp"

using namespace curio_test;
using curio::SslContext;
using curio::SslError;
using curio::SslStream;
using curio::Task;

namespace {

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const SslError& e) {
    return e.what();
  }
  return "(no SslError)";
}

// A handshake between the two contexts over a loopback pair; the client's negotiated subject.
Task<std::string> handshake_subject(SslContext client, SslContext server) {
  auto [c, s] = co_await tcp_pair();
  SslStream cs(std::move(c), client, "localhost");
  SslStream ss(std::move(s), server);
  auto srv = curio::spawn(ss.do_handshake());
  co_await curio::timeout_after(5s, cs.do_handshake());
  co_await srv.join();
  co_return cs.peer_subject();
}

}  // namespace

TEST(TlsContext, MissingCertificateFileIsAnErrorNamingTheFile) {
  std::string m = message_of([] { SslContext::server().load_cert_chain("/nonexistent/cert.pem", "/nonexistent/k"); });
  EXPECT_NE(m.find("/nonexistent/cert.pem"), std::string::npos) << m;
  EXPECT_NE(m.find("No such file or directory"), std::string::npos) << m;
}

TEST(TlsContext, FileThatIsNotPemIsAnErrorNamingTheFileAndTheReason) {
  TempDir dir;
  write_file(dir.file("sock"), "this is not a certificate\n");
  std::string m = message_of([&] { SslContext::server().load_cert_chain(dir.file("sock"), Pki::get().key("server")); });
  EXPECT_NE(m.find(dir.file("sock")), std::string::npos) << m;
  EXPECT_NE(m.find("no start line"), std::string::npos) << m;
}

TEST(TlsContext, KeyThatDoesNotMatchTheCertificateIsRefused) {
  const Pki& pki = Pki::get();
  std::string m = message_of([&] { SslContext::server().load_cert_chain(pki.cert("server"), pki.key("client")); });
  EXPECT_NE(m.find("does not match"), std::string::npos) << m;
  EXPECT_NE(m.find("key values mismatch"), std::string::npos) << m;
  EXPECT_NE(m.find(pki.key("client")), std::string::npos) << m;
}

TEST(TlsContext, MissingCaFileIsAnErrorNamingTheFile) {
  std::string m = message_of([] { SslContext::client().load_verify_locations("/nonexistent/ca.pem"); });
  EXPECT_NE(m.find("/nonexistent/ca.pem"), std::string::npos) << m;
}

TEST(TlsContext, CertificateAndKeyFromMemoryWork) {
  const Pki& pki = Pki::get();
  auto server = SslContext::server();
  server.load_cert_chain_pem(pki.pem("server"), pki.key_pem("server"));
  auto client = SslContext::client();
  client.load_verify_pem(pki.pem("ca"));
  EXPECT_EQ(curio::run(handshake_subject(client, server)), "CN=localhost");
}

TEST(TlsContext, CaFromAHashedDirectoryWorks) {
  auto client = SslContext::client();
  client.load_verify_locations("", Pki::get().ca_dir());
  EXPECT_EQ(curio::run(handshake_subject(client, server_context())), "CN=localhost");
}

TEST(TlsContext, BadPemTextIsAnError) {
  EXPECT_THROW(SslContext::client().load_verify_pem("garbage"), SslError);
  EXPECT_THROW(SslContext::server().load_cert_chain_pem("garbage", "garbage"), SslError);
}

TEST(TlsContext, ClientChecksHostNamesSoAStreamNeedsOne) {
  auto main = []() -> Task<> {
    auto [c, s] = co_await tcp_pair();
    EXPECT_THROW(SslStream(std::move(c), client_context()), std::invalid_argument);
  };
  curio::run(main());
}

TEST(TlsContext, DefaultsAreVerificationForClientsAndTls12Minimum) {
  auto client = SslContext::client();
  EXPECT_EQ(client.verify_mode(), curio::VerifyMode::Required);
  EXPECT_TRUE(client.check_hostname());
  EXPECT_FALSE(client.is_server());
  auto server = SslContext::server();
  EXPECT_EQ(server.verify_mode(), curio::VerifyMode::None);
  EXPECT_TRUE(server.is_server());
  EXPECT_EQ(SSL_CTX_get_min_proto_version(client.native_handle()), TLS1_2_VERSION);
}

TEST(TlsContext, InvalidCipherSuitesAndAlpnNamesAreRefused) {
  EXPECT_THROW(SslContext::client().set_ciphersuites("NOT_A_SUITE"), SslError);
  EXPECT_THROW(SslContext::client().set_alpn_protocols({""}), std::invalid_argument);
}
