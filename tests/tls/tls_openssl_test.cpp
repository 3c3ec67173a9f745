// Against real peers: our client with `openssl s_server`, our server with `openssl s_client`
// (Debian's openssl command, as child processes on loopback): echo, 4 MB byte-exact in each
// direction, ALPN, SNI, mTLS accepted and refused, and the error cases (unknown CA, expired and
// not-yet-valid certificates, host name mismatch, protocol version mismatch, truncated close).
// Timing tolerance: each exchange is bounded by a 10 s timeout (a peer starts in ~50 ms); no
// test asserts a duration.
#include <gtest/gtest.h>
#include <signal.h>

#include <string>

#include "tls/tls_test_support.hpp"

using namespace curio_test;
using curio::Socket;
using curio::SocketAddress;
using curio::SslContext;
using curio::SslError;
using curio::SslStream;
using curio::Task;

namespace {

const Pki& pki() { return Pki::get(); }

std::vector<std::string> cert_args(const std::string& name) {
  return {"-cert", pki().cert(name), "-key", pki().key(name)};
}

std::vector<std::string> operator+(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// Our client's handshake (and first read) against an s_server must fail; the error.
Task<SslError> our_client_fails(std::vector<std::string> server_args, SslContext ctx = client_context()) {
  OpensslServer server(server_args + std::vector<std::string>{"-rev"});
  co_await server.ready();
  try {
    SslStream s = co_await curio::timeout_after(10s, curio::open_connection("localhost", server.port, ctx));
    co_await s.write("x\n");
    co_await curio::timeout_after(10s, s.read());
  } catch (const SslError& e) {
    co_return e;
  }
  throw std::runtime_error("the connection did not fail");
}

// Runs a TLS server with `options` and `handler` while an s_client with `args` sends `input`;
// returns what s_client printed (the data our server sent).
template <class Handler>
Task<std::string> with_s_client(curio::SslServerOptions options, Handler handler, std::vector<std::string> args,
                                std::string input) {
  Socket listener = loopback_listener();
  std::uint16_t port = listener.getsockname().port();
  auto server = curio::spawn(curio::run_server(std::move(listener), handler, std::move(options)));
  std::string out;
  {
    OpensslClient client(port, args);
    if (!input.empty()) co_await client.process.stdin_stream()->write(input);
    out = co_await curio::timeout_after(10s, client.process.stdout_stream()->readall());
    co_await curio::timeout_after(10s, client.process.wait());
  }
  co_await server.cancel();
  co_return out;
}

Task<> echo_line(SslStream s, SocketAddress) {
  if (auto line = co_await s.next_line()) co_await s.write(*line);
  co_await s.shutdown();
}

std::vector<std::string> verify_args(const std::string& name = "localhost") {
  return {"-CAfile", pki().ca(), "-verify_return_error", "-verify_hostname", name, "-servername", name};
}

}  // namespace

// --- our client, openssl s_server ---

TEST(TlsOpenssl, OurClientEchoesWithOpensslServer) {
  auto main = []() -> Task<> {
    OpensslServer server(cert_args("server") + std::vector<std::string>{"-rev"});
    co_await server.ready();
    SslStream s =
        co_await curio::timeout_after(10s, curio::open_connection("localhost", server.port, client_context()));
    co_await s.write("hello openssl\n");
    EXPECT_EQ(co_await curio::timeout_after(10s, s.readline()), "lssnepo olleh\n");  // -rev reverses lines
    EXPECT_EQ(s.version(), "TLSv1.3");
    co_await s.shutdown();
  };
  curio::run(main());
}

TEST(TlsOpenssl, OurClientSendsFourMegabytesByteExactToOpensslServer) {
  auto main = []() -> Task<> {
    OpensslServer server(cert_args("server") + std::vector<std::string>{"-naccept", "1"});
    co_await server.ready();
    const std::string data = pattern(4 << 20);
    auto receiver = curio::spawn(server.process.stdout_stream()->readall());  // -quiet: only the data
    {
      SslStream s =
          co_await curio::timeout_after(10s, curio::open_connection("localhost", server.port, client_context()));
      co_await curio::timeout_after(10s, s.write(data));
      co_await s.shutdown();
      // Closing with unread data (s_server's session tickets) would reset the connection and
      // lose what s_server has not read yet: wait for its close_notify first.
      EXPECT_EQ(co_await curio::timeout_after(10s, s.readall()), "");
    }
    std::string got = co_await curio::timeout_after(10s, receiver.join());
    EXPECT_EQ(got.size(), data.size());
    EXPECT_TRUE(got == data);
  };
  curio::run(main());
}

TEST(TlsOpenssl, OurClientReceivesFourMegabytesByteExactFromOpensslServer) {
  auto main = []() -> Task<> {
    OpensslServer server(cert_args("server") + std::vector<std::string>{"-naccept", "1"});
    co_await server.ready();
    const std::string data = pattern(4 << 20);
    SslStream s =
        co_await curio::timeout_after(10s, curio::open_connection("localhost", server.port, client_context()));
    auto sender = curio::spawn(server.process.stdin_stream()->write(data));  // s_server sends its stdin
    std::string got = co_await curio::timeout_after(10s, s.read_exactly(data.size()));
    co_await sender.join();
    EXPECT_TRUE(got == data);
    co_await s.shutdown();
  };
  curio::run(main());
}

TEST(TlsOpenssl, AlpnWithOpensslServer) {
  auto main = []() -> Task<> {
    OpensslServer server(cert_args("server") + std::vector<std::string>{"-rev", "-alpn", "h2,http/1.1"});
    co_await server.ready();
    curio::SslConnectOptions options{.ssl = client_context(), .alpn_protocols = {"http/1.1"}};
    SslStream s = co_await curio::timeout_after(10s, curio::open_connection("localhost", server.port, options));
    EXPECT_EQ(s.alpn_protocol(), "http/1.1");
    co_await s.shutdown();
  };
  curio::run(main());
}

TEST(TlsOpenssl, SniToOpensslServerGetsTheCertificateForTheName) {
  auto main = []() -> Task<> {
    OpensslServer server(cert_args("server") + std::vector<std::string>{"-rev", "-servername", "a.test", "-cert2",
                                                                        pki().cert("a.test"), "-key2",
                                                                        pki().key("a.test")});
    co_await server.ready();
    curio::SslConnectOptions options{.ssl = client_context(), .server_hostname = "a.test"};  // (named: GCC 12)
    SslStream a = co_await curio::timeout_after(10s, curio::open_connection("127.0.0.1", server.port, options));
    EXPECT_EQ(a.peer_subject(), "CN=a.test");
    co_await a.shutdown();
  };
  curio::run(main());
}

TEST(TlsOpenssl, MutualTlsWithOpensslServerAcceptsOurClientCertificate) {
  auto main = []() -> Task<> {
    OpensslServer server(cert_args("server") + std::vector<std::string>{"-rev", "-Verify", "1", "-CAfile", pki().ca()});
    co_await server.ready();
    auto ctx = client_context();
    ctx.load_cert_chain(pki().cert("client"), pki().key("client"));
    SslStream s = co_await curio::timeout_after(10s, curio::open_connection("localhost", server.port, ctx));
    co_await s.write("abc\n");
    EXPECT_EQ(co_await curio::timeout_after(10s, s.readline()), "cba\n");
    co_await s.shutdown();
  };
  curio::run(main());
}

TEST(TlsOpenssl, MutualTlsWithOpensslServerRefusesOurClientWithoutCertificate) {
  SslError e = curio::run(
      our_client_fails(cert_args("server") + std::vector<std::string>{"-Verify", "1", "-CAfile", pki().ca()}));
  EXPECT_NE(std::string(e.what()).find("certificate required"), std::string::npos) << e.what();
}

TEST(TlsOpenssl, UnknownCaFromOpensslServerIsRefused) {
  SslError e = curio::run(our_client_fails(cert_args("stranger")));
  EXPECT_EQ(e.verify_error(), "unable to get local issuer certificate");
}

TEST(TlsOpenssl, ExpiredCertificateFromOpensslServerIsRefused) {
  SslError e = curio::run(our_client_fails(cert_args("expired")));
  EXPECT_EQ(e.verify_error(), "certificate has expired");
}

TEST(TlsOpenssl, NotYetValidCertificateFromOpensslServerIsRefused) {
  SslError e = curio::run(our_client_fails(cert_args("notyet")));
  EXPECT_EQ(e.verify_error(), "certificate is not yet valid");
}

TEST(TlsOpenssl, HostNameMismatchWithOpensslServerIsRefused) {
  SslError e = curio::run(our_client_fails(cert_args("wronghost")));
  EXPECT_EQ(e.verify_error(), "hostname mismatch");
}

TEST(TlsOpenssl, ProtocolVersionMismatchWithOpensslServerIsRefused) {
  auto ctx = client_context();
  ctx.set_minimum_version(curio::TlsVersion::v1_3);
  SslError e = curio::run(our_client_fails(cert_args("server") + std::vector<std::string>{"-tls1_2"}, ctx));
  EXPECT_NE(std::string(e.what()).find("protocol"), std::string::npos) << e.what();
}

TEST(TlsOpenssl, TruncatedCloseByAKilledOpensslServerIsAnSslError) {
  auto main = []() -> Task<> {
    OpensslServer server(cert_args("server"));
    co_await server.ready();
    SslStream s =
        co_await curio::timeout_after(10s, curio::open_connection("localhost", server.port, client_context()));
    co_await server.process.stdin_stream()->write("last line\n");
    EXPECT_EQ(co_await curio::timeout_after(10s, s.readline()), "last line\n");
    server.process.kill();  // the system closes its socket: a FIN without close_notify
    co_await server.process.wait();
    try {
      co_await curio::timeout_after(10s, s.read());
      ADD_FAILURE() << "a truncated stream read as a clean end";
    } catch (const SslError& e) {
      EXPECT_EQ(e.reason(), "unexpected eof while reading");
    }
  };
  curio::run(main());
}

// --- our server, openssl s_client ---

TEST(TlsOpenssl, OpensslClientEchoesThroughOurServer) {
  std::string out = curio::run(with_s_client({.ssl = server_context()}, echo_line, verify_args(), "ping\n"));
  EXPECT_EQ(out, "ping\n");
}

TEST(TlsOpenssl, OpensslClientReceivesFourMegabytesByteExactFromOurServer) {
  static const std::string data = pattern(4 << 20);
  auto handler = [](SslStream s, SocketAddress) -> Task<> {
    co_await s.write(data);
    co_await s.shutdown();
  };
  std::string out = curio::run(with_s_client({.ssl = server_context()}, handler, verify_args(), ""));
  EXPECT_EQ(out.size(), data.size());
  EXPECT_TRUE(out == data);
}

TEST(TlsOpenssl, OpensslClientSendsFourMegabytesByteExactToOurServer) {
  static const std::string data = pattern(4 << 20);
  auto handler = [](SslStream s, SocketAddress) -> Task<> {
    std::string got = co_await s.read_exactly(data.size());
    co_await s.write(got == data ? "intact\n" : "corrupted\n");
    co_await s.shutdown();
  };
  std::string out = curio::run(with_s_client({.ssl = server_context()}, handler, verify_args(), data));
  EXPECT_EQ(out, "intact\n");
}

TEST(TlsOpenssl, AlpnWithOpensslClient) {
  auto server = server_context();
  server.set_alpn_protocols({"h2", "http/1.1"});
  auto handler = [](SslStream s, SocketAddress) -> Task<> {
    co_await s.write("alpn=" + s.alpn_protocol() + "\n");
    co_await s.shutdown();
  };
  std::string out = curio::run(with_s_client({.ssl = server}, handler,
                                             verify_args() + std::vector<std::string>{"-alpn", "spdy/3,http/1.1"}, ""));
  EXPECT_EQ(out, "alpn=http/1.1\n");
}

TEST(TlsOpenssl, SniFromOpensslClientPicksOurContextForTheName) {
  auto server = server_context();
  server.add_sni_context("b.test", server_context("b.test"));
  auto handler = [](SslStream s, SocketAddress) -> Task<> {
    co_await s.write("sni=" + s.server_name() + "\n");
    co_await s.shutdown();
  };
  // -verify_hostname b.test -verify_return_error: s_client only gets this far with b.test's certificate.
  std::string out = curio::run(with_s_client({.ssl = server}, handler, verify_args("b.test"), ""));
  EXPECT_EQ(out, "sni=b.test\n");
}

TEST(TlsOpenssl, MutualTlsAcceptsAnOpensslClientCertificate) {
  auto server = server_context();
  server.load_verify_locations(pki().ca());
  server.set_verify_mode(curio::VerifyMode::Required);
  auto handler = [](SslStream s, SocketAddress) -> Task<> {
    co_await s.write("client=" + s.peer_subject() + "\n");
    co_await s.shutdown();
  };
  std::string out = curio::run(with_s_client({.ssl = server}, handler, verify_args() + cert_args("client"), ""));
  EXPECT_EQ(out, "client=CN=test client\n");
}

TEST(TlsOpenssl, MutualTlsRefusesAnOpensslClientWithoutCertificate) {
  auto server = server_context();
  server.load_verify_locations(pki().ca());
  server.set_verify_mode(curio::VerifyMode::Required);
  std::vector<std::string> errors;
  curio::SslServerOptions opts{.ssl = server, .on_handshake_error = [&](const SocketAddress&, const SslError& e) {
                                 errors.push_back(e.reason());
                               }};
  std::string out = curio::run(with_s_client(opts, echo_line, verify_args(), "ping\n"));
  EXPECT_EQ(out, "");
  EXPECT_EQ(errors, std::vector<std::string>{"peer did not return a certificate"});
}

TEST(TlsOpenssl, OpensslClientThatDistrustsOurCertificateIsAnSslErrorOnOurServer) {
  std::vector<std::string> errors;
  curio::SslServerOptions opts{
      .ssl = server_context("stranger"),
      .on_handshake_error = [&](const SocketAddress&, const SslError& e) { errors.push_back(e.reason()); }};
  std::string out = curio::run(with_s_client(opts, echo_line, verify_args(), "ping\n"));
  EXPECT_EQ(out, "");
  EXPECT_EQ(errors, std::vector<std::string>{"tlsv1 alert unknown ca"});
}

TEST(TlsOpenssl, OpensslClientWithAnOldProtocolIsAnSslErrorOnOurServer) {
  auto server = server_context();
  server.set_minimum_version(curio::TlsVersion::v1_3);
  std::vector<std::string> errors;
  curio::SslServerOptions opts{.ssl = server, .on_handshake_error = [&](const SocketAddress&, const SslError& e) {
                                 errors.push_back(e.reason());
                               }};
  std::string out =
      curio::run(with_s_client(opts, echo_line, verify_args() + std::vector<std::string>{"-tls1_2"}, "ping\n"));
  EXPECT_EQ(out, "");
  EXPECT_EQ(errors, std::vector<std::string>{"unsupported protocol"});
}
