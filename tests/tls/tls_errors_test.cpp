// Every failure of scope 5, between our client and our server: unknown CA, expired and
// not-yet-valid certificates, host name mismatch, protocol version mismatch, a plaintext
// client, a truncated close, a reset in the middle of a handshake. Each is an SslError whose
// message names OpenSSL's reason; the server reports it to on_handshake_error and keeps serving
// others; descriptors, SSL objects and tasks all return to their counts before.
// Timing tolerance: every case is bounded by a 20 s timeout (each exchange by 5 s); polls sleep
// 10 ms at a time.
#include <gtest/gtest.h>
#include <sys/socket.h>

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

Task<> echo_line(SslStream s, SocketAddress) {
  if (auto line = co_await s.next_line()) co_await s.write(*line);
  co_await s.shutdown();
}

// Errors the server reported, and a check that it still serves a good client.
struct ServerUnderTest {
  std::vector<SslError> errors;
  std::uint16_t port = 0;
};

// Runs a TLS echo server with `server_ctx` around body(server); then checks that a good client
// is still served, and that nothing leaked once the server is gone.
template <class Body>
void run_case(SslContext server_ctx, Body body) {
  auto main = [&]() -> Task<> {
    int fds = open_fd_count();
    long live = SslStream::live_count();
    std::size_t tasks = curio::Kernel::current()->task_count();
    {
      ServerUnderTest st;
      Socket listener = loopback_listener(64);
      st.port = listener.getsockname().port();
      curio::SslServerOptions opts{
          .ssl = server_ctx,
          .handshake_timeout = 5,
          .on_handshake_error = [&](const SocketAddress&, const SslError& e) { st.errors.push_back(e); }};
      auto server = curio::spawn(curio::run_server(std::move(listener), echo_line, opts));
      std::exception_ptr failure;
      try {
        co_await curio::timeout_after(20s, body(st));
      } catch (...) {
        failure = std::current_exception();
      }
      if (failure) {
        co_await server.cancel();  // before `st` goes away: the server reports into it
        std::rethrow_exception(failure);
      }
      // The server goes on serving good clients (with the good certificate, if it has one).
      auto good = client_context();
      good.set_check_hostname(false);
      good.set_verify_mode(curio::VerifyMode::None);
      SslStream s = co_await curio::timeout_after(5s, curio::open_connection("localhost", st.port, good));
      co_await s.write("still here\n");
      EXPECT_EQ(co_await curio::timeout_after(5s, s.readline()), "still here\n");
      co_await s.shutdown();
      co_await server.cancel();
    }
    EXPECT_EQ(open_fd_count(), fds);
    EXPECT_EQ(SslStream::live_count(), live);
    EXPECT_EQ(curio::Kernel::current()->task_count(), tasks);
  };
  curio::run(main());
}

// Our client's handshake must fail with an SslError whose message has `reason`.
Task<SslError> client_fails(std::uint16_t port, SslContext ctx, std::string hostname = "localhost") {
  try {
    curio::SslConnectOptions options{.ssl = ctx, .server_hostname = hostname};  // (named: GCC 12)
    SslStream s = co_await curio::open_connection("127.0.0.1", port, options);
    co_await s.read();  // TLS 1.3: a refusal by the server arrives after the client's handshake
  } catch (const SslError& e) {
    co_return e;
  }
  throw std::runtime_error("the connection did not fail");
}

Task<> wait_for_errors(ServerUnderTest& st, std::size_t n) {
  while (st.errors.size() < n) co_await curio::sleep(0.01);
}

}  // namespace

TEST(TlsErrors, UnknownCaFailsTheHandshakeOnBothSides) {
  run_case(server_context("stranger"), [](ServerUnderTest& st) -> Task<> {
    SslError e = co_await client_fails(st.port, client_context());
    EXPECT_EQ(e.reason(), "certificate verify failed");
    EXPECT_EQ(e.verify_error(), "unable to get local issuer certificate");
    EXPECT_NE(std::string(e.what()).find("certificate verify failed"), std::string::npos) << e.what();
    co_await wait_for_errors(st, 1);
    EXPECT_EQ(st.errors[0].reason(), "tlsv1 alert unknown ca");  // our client's alert
  });
}

TEST(TlsErrors, ExpiredCertificateIsRefused) {
  run_case(server_context("expired"), [](ServerUnderTest& st) -> Task<> {
    SslError e = co_await client_fails(st.port, client_context());
    EXPECT_EQ(e.verify_error(), "certificate has expired");
    EXPECT_NE(std::string(e.what()).find("certificate has expired"), std::string::npos) << e.what();
    co_await wait_for_errors(st, 1);
    EXPECT_EQ(st.errors[0].reason(), "sslv3 alert certificate expired");
  });
}

TEST(TlsErrors, NotYetValidCertificateIsRefused) {
  run_case(server_context("notyet"), [](ServerUnderTest& st) -> Task<> {
    SslError e = co_await client_fails(st.port, client_context());
    EXPECT_EQ(e.verify_error(), "certificate is not yet valid");
    co_await wait_for_errors(st, 1);
  });
}

TEST(TlsErrors, HostNameMismatchIsRefused) {
  run_case(server_context("wronghost"), [](ServerUnderTest& st) -> Task<> {
    SslError e = co_await client_fails(st.port, client_context(), "localhost");
    EXPECT_EQ(e.verify_error(), "hostname mismatch");
    co_await wait_for_errors(st, 1);
  });
}

TEST(TlsErrors, IpAddressMismatchIsRefused) {
  run_case(server_context("wronghost"), [](ServerUnderTest& st) -> Task<> {
    SslError e = co_await client_fails(st.port, client_context(), "127.0.0.1");
    EXPECT_EQ(e.verify_error(), "IP address mismatch");
  });
}

TEST(TlsErrors, ProtocolVersionMismatchIsRefused) {
  auto server = server_context();
  server.set_minimum_version(curio::TlsVersion::v1_3);
  run_case(server, [](ServerUnderTest& st) -> Task<> {
    auto old = client_context();
    old.set_maximum_version(curio::TlsVersion::v1_2);
    SslError e = co_await client_fails(st.port, old);
    EXPECT_EQ(e.reason(), "tlsv1 alert protocol version");
    co_await wait_for_errors(st, 1);
    EXPECT_EQ(st.errors[0].reason(), "unsupported protocol");
  });
}

TEST(TlsErrors, PlaintextClientIsRefusedWithAnSslError) {
  run_case(server_context(), [](ServerUnderTest& st) -> Task<> {
    Socket s(AF_INET, SOCK_STREAM);
    co_await s.connect(SocketAddress::ipv4("127.0.0.1", st.port));
    co_await s.sendall("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
    co_await wait_for_errors(st, 1);
    EXPECT_EQ(st.errors[0].reason(), "http request");
    Socket t(AF_INET, SOCK_STREAM);
    co_await t.connect(SocketAddress::ipv4("127.0.0.1", st.port));
    co_await t.sendall("hello server\n");
    co_await wait_for_errors(st, 2);
    EXPECT_EQ(st.errors[1].reason(), "wrong version number");
    EXPECT_EQ(co_await s.recv(), "");  // the server closed the plaintext connections
  });
}

TEST(TlsErrors, ResetInTheMiddleOfTheHandshakeIsAnSslErrorOnTheServer) {
  run_case(server_context(), [](ServerUnderTest& st) -> Task<> {
    Socket s(AF_INET, SOCK_STREAM);
    co_await s.connect(SocketAddress::ipv4("127.0.0.1", st.port));
    co_await s.sendall(std::string("\x16\x03\x01\x01\x00\x01", 6));  // a ClientHello's first bytes
    co_await curio::sleep(0.05);
    ::linger lg{1, 0};
    ::setsockopt(s.fileno(), SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    s.close();  // RST
    co_await wait_for_errors(st, 1);
    EXPECT_EQ(st.errors[0].error_number(), ECONNRESET);
    EXPECT_NE(std::string(st.errors[0].what()).find("TLS handshake failed"), std::string::npos);
  });
}

TEST(TlsErrors, ResetInTheMiddleOfTheHandshakeIsAnSslErrorOnTheClient) {
  auto main = []() -> Task<> {
    Socket listener = loopback_listener();
    auto port = listener.getsockname().port();
    auto rude = curio::spawn([&]() -> Task<> {
      auto [c, addr] = co_await listener.accept();
      co_await c.recv();  // the ClientHello
      ::linger lg{1, 0};
      ::setsockopt(c.fileno(), SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    });
    try {
      co_await curio::timeout_after(5s, curio::open_connection("localhost", port, client_context()));
      ADD_FAILURE() << "handshake succeeded";
    } catch (const SslError& e) {
      EXPECT_EQ(e.error_number(), ECONNRESET) << e.what();
    }
    co_await rude.join();
  };
  curio::run(main());
}

TEST(TlsErrors, CloseInTheMiddleOfTheHandshakeIsUnexpectedEof) {
  auto main = []() -> Task<> {
    Socket listener = loopback_listener();
    auto port = listener.getsockname().port();
    auto closer = curio::spawn([&]() -> Task<> {
      auto [c, addr] = co_await listener.accept();
      co_await c.recv();
    });
    try {
      co_await curio::timeout_after(5s, curio::open_connection("localhost", port, client_context()));
      ADD_FAILURE() << "handshake succeeded";
    } catch (const SslError& e) {
      EXPECT_EQ(e.reason(), "unexpected eof while reading") << e.what();
    }
    co_await closer.join();
  };
  curio::run(main());
}

TEST(TlsErrors, TruncatedCloseAfterDataIsAnSslErrorOnceTheDataIsRead) {
  auto main = []() -> Task<> {
    auto [c, s] = co_await tcp_pair();
    SslStream client(std::move(c), client_context(), "localhost");
    SslStream server(std::move(s), server_context());
    auto srv = curio::spawn([&]() -> Task<> {
      co_await server.do_handshake();
      co_await server.write("last words\n");
      server.close();  // no close_notify
    });
    co_await curio::timeout_after(5s, client.do_handshake());
    co_await srv.join();
    EXPECT_EQ(co_await client.readline(), "last words\n");
    try {
      co_await curio::timeout_after(5s, client.read());
      ADD_FAILURE() << "a truncated stream read as a clean end";
    } catch (const SslError& e) {
      EXPECT_EQ(e.reason(), "unexpected eof while reading");
      EXPECT_NE(std::string(e.what()).find("without close_notify"), std::string::npos) << e.what();
    }
  };
  curio::run(main());
}

TEST(TlsErrors, ResetAfterTheHandshakeIsAConnectionResetError) {
  auto main = []() -> Task<> {
    auto [c, s] = co_await tcp_pair();
    SslStream client(std::move(c), client_context(), "localhost");
    SslStream server(std::move(s), server_context());
    auto srv = curio::spawn(server.do_handshake());
    co_await curio::timeout_after(5s, client.do_handshake());
    co_await srv.join();
    ::linger lg{1, 0};
    ::setsockopt(server.socket().fileno(), SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    server.close();
    co_await curio::sleep(0.02);
    EXPECT_THROW(co_await curio::timeout_after(5s, client.read()), curio::ConnectionResetError);
  };
  curio::run(main());
}

TEST(TlsErrors, ManyFailedHandshakesLeakNothing) {
  run_case(server_context("stranger"), [](ServerUnderTest& st) -> Task<> {
    auto ctx = client_context();
    for (int i = 0; i < 20; ++i) co_await client_fails(st.port, ctx);
    co_await wait_for_errors(st, 20);
  });
}
