// SslStream and the TLS network helpers, our client against our server on loopback: echo, a
// 4 MB transfer, the stream interface (lines, exact reads, readall), ALPN, SNI, mTLS, what is
// negotiated, close_notify, and cancellation/timeouts at each blocking point of a handshake, a
// read and a write (which must leave the stream usable and lose nothing).
// Timing tolerance: timeouts of 50-200 ms only make an operation give up while its peer is
// deliberately silent; every exchange is bounded by a 5 s timeout. No test asserts a duration.
#include <gtest/gtest.h>

#include <string>

#include "tls/tls_test_support.hpp"

using namespace curio_test;
using curio::Socket;
using curio::SocketAddress;
using curio::SslContext;
using curio::SslStream;
using curio::Task;

namespace {

Task<> echo_bytes(SslStream s, SocketAddress) {
  for (;;) {
    std::string data = co_await s.read();
    if (data.empty()) break;
    co_await s.write(data);
  }
  co_await s.shutdown();
}

// A client and a server stream over a connected loopback TCP pair (no handshake yet).
struct StreamPair {
  SslStream client;
  SslStream server;
};

Task<StreamPair> stream_pair(SslContext client_ctx = client_context(), SslContext server_ctx = server_context(),
                             std::string hostname = "localhost") {
  auto [c, s] = co_await tcp_pair();
  co_return StreamPair{SslStream(std::move(c), client_ctx, hostname), SslStream(std::move(s), server_ctx)};
}

// Both handshakes, concurrently.
Task<> handshake(StreamPair& p) {
  auto server = curio::spawn(p.server.do_handshake());
  co_await curio::timeout_after(5s, p.client.do_handshake());
  co_await server.join();
}

// Options with just a context (a function call: GCC 12 destroys a braced aggregate temporary
// inside a co_await expression twice).
curio::SslServerOptions server_options(SslContext ctx) { return curio::SslServerOptions{.ssl = std::move(ctx)}; }

// A TLS server on an ephemeral loopback port for the duration of body(port).
template <class Body>
Task<> with_server(curio::SslServerOptions options, curio::SslClientHandler handler, Body body) {
  Socket listener = loopback_listener(128);
  std::uint16_t port = listener.getsockname().port();
  auto server = curio::spawn(curio::run_server(std::move(listener), std::move(handler), std::move(options)));
  std::exception_ptr failure;
  try {
    co_await curio::timeout_after(10s, body(port));
  } catch (...) {
    failure = std::current_exception();
  }
  co_await server.cancel();
  if (failure) std::rethrow_exception(failure);
}

}  // namespace

TEST(TlsStream, OpenConnectionEchoesThroughTcpServer) {
  auto main = []() -> Task<> {
    co_await with_server(server_options(server_context()), echo_bytes, [](std::uint16_t port) -> Task<> {
      SslStream s = co_await curio::open_connection("localhost", port, client_context());
      co_await s.write("hello over TLS\n");
      EXPECT_EQ(co_await s.readline(), "hello over TLS\n");
      co_await s.shutdown();
      EXPECT_EQ(co_await s.read(), "");  // the server's close_notify
      EXPECT_TRUE(s.at_eof());
    });
  };
  curio::run(main());
}

TEST(TlsStream, FourMegabytesArriveByteExactBothWays) {
  auto main = []() -> Task<> {
    co_await with_server(server_options(server_context()), echo_bytes, [](std::uint16_t port) -> Task<> {
      SslStream s = co_await curio::open_connection("127.0.0.1", port, client_context());
      const std::string data = pattern(4 << 20);
      auto writer = curio::spawn([&]() -> Task<> {
        co_await s.write(data);
        co_await s.shutdown();
      });
      std::string back = co_await s.readall();
      co_await writer.join();
      EXPECT_EQ(back.size(), data.size());
      EXPECT_TRUE(back == data);
    });
  };
  curio::run(main());
}

TEST(TlsStream, StreamInterfaceReadsLinesExactBytesAndTheRest) {
  auto main = []() -> Task<> {
    StreamPair p = co_await stream_pair();
    co_await handshake(p);
    std::vector<std::string_view> lines{"one\n", "two\n", "three\n"};  // (GCC 12: no braced list in co_await)
    co_await p.server.writelines(lines);
    co_await p.server.write("abcdefXYZ");
    co_await p.server.shutdown();
    EXPECT_EQ(co_await p.client.readline(), "one\n");
    EXPECT_EQ(co_await p.client.next_line(), std::optional<std::string>("two\n"));
    EXPECT_EQ(co_await p.client.readline(), "three\n");
    EXPECT_EQ(co_await p.client.read_exactly(6), "abcdef");
    EXPECT_EQ(co_await p.client.readall(), "XYZ");
    EXPECT_EQ(co_await p.client.next_line(), std::nullopt);
  };
  curio::run(main());
}

TEST(TlsStream, ReadlinesReturnsEveryLineUntilCloseNotify) {
  auto main = []() -> Task<> {
    StreamPair p = co_await stream_pair();
    co_await handshake(p);
    co_await p.server.write("a\nb\nc");
    co_await p.server.shutdown();
    std::vector<std::string> lines = co_await p.client.readlines();
    EXPECT_EQ(lines, (std::vector<std::string>{"a\n", "b\n", "c"}));
  };
  curio::run(main());
}

TEST(TlsStream, ReadlineRaisesLineTooLongAndKeepsTheData) {
  auto main = []() -> Task<> {
    StreamPair p = co_await stream_pair();
    co_await handshake(p);
    co_await p.server.write("0123456789\n");
    EXPECT_THROW(co_await p.client.readline(4), curio::LineTooLong);
    EXPECT_EQ(co_await p.client.readline(), "0123456789\n");
  };
  curio::run(main());
}

TEST(TlsStream, ReadExactlyRaisesEofErrorWithThePartialData) {
  auto main = []() -> Task<> {
    StreamPair p = co_await stream_pair();
    co_await handshake(p);
    co_await p.server.write("abc");
    co_await p.server.shutdown();
    try {
      co_await p.client.read_exactly(10);
      ADD_FAILURE() << "no EofError";
    } catch (const curio::EofError& e) {
      EXPECT_EQ(e.partial(), "abc");
    }
  };
  curio::run(main());
}

TEST(TlsStream, ReportsCipherVersionAndPeerSubject) {
  auto main = []() -> Task<> {
    auto client = client_context();
    client.set_ciphersuites("TLS_AES_128_GCM_SHA256");
    StreamPair p = co_await stream_pair(client);
    EXPECT_EQ(p.client.version(), "");
    co_await handshake(p);
    EXPECT_EQ(p.client.version(), "TLSv1.3");
    EXPECT_EQ(p.client.cipher(), "TLS_AES_128_GCM_SHA256");
    EXPECT_EQ(p.server.cipher(), "TLS_AES_128_GCM_SHA256");
    EXPECT_EQ(p.client.peer_subject(), "CN=localhost");
    EXPECT_EQ(p.server.peer_subject(), "");  // no client certificate asked
    EXPECT_EQ(p.server.server_name(), "localhost");
  };
  curio::run(main());
}

TEST(TlsStream, TlsOneTwoWorksWhenBothSidesAllowIt) {
  auto main = []() -> Task<> {
    auto server = server_context();
    server.set_maximum_version(curio::TlsVersion::v1_2);
    StreamPair p = co_await stream_pair(client_context(), server);
    co_await handshake(p);
    EXPECT_EQ(p.client.version(), "TLSv1.2");
    co_await p.client.write("ping\n");
    EXPECT_EQ(co_await p.server.readline(), "ping\n");
  };
  curio::run(main());
}

TEST(TlsStream, AlpnPicksTheServersPreferredCommonProtocol) {
  auto main = []() -> Task<> {
    auto server = server_context();
    server.set_alpn_protocols({"h2", "http/1.1"});
    auto opts = curio::SslServerOptions{.ssl = server};
    co_await with_server(opts, echo_bytes, [](std::uint16_t port) -> Task<> {
      // (Named options: GCC 12 rejects a braced list inside a co_await expression.)
      curio::SslConnectOptions h2{.ssl = client_context(), .alpn_protocols = {"http/1.1", "h2"}};
      curio::SslConnectOptions http{.ssl = client_context(), .alpn_protocols = {"spdy/1", "http/1.1"}};
      curio::SslConnectOptions imap{.ssl = client_context(), .alpn_protocols = {"imap"}};
      SslStream s = co_await curio::open_connection("localhost", port, h2);
      EXPECT_EQ(s.alpn_protocol(), "h2");
      SslStream t = co_await curio::open_connection("localhost", port, http);
      EXPECT_EQ(t.alpn_protocol(), "http/1.1");
      SslStream u = co_await curio::open_connection("localhost", port, imap);
      EXPECT_EQ(u.alpn_protocol(), "");  // no overlap: no ALPN, the connection works
      co_await u.write("x");
      EXPECT_EQ(co_await u.read(), "x");
      for (SslStream* x : {&s, &t, &u}) co_await x->shutdown();
    });
  };
  curio::run(main());
}

TEST(TlsStream, SniServerPicksTheContextForTheRequestedName) {
  auto main = []() -> Task<> {
    auto server = server_context();
    server.add_sni_context("a.test", server_context("a.test"));
    server.set_sni_callback([](std::string_view name) -> std::optional<SslContext> {
      if (name == "b.test") return server_context("b.test");
      return std::nullopt;
    });
    co_await with_server(server_options(server), echo_bytes, [](std::uint16_t port) -> Task<> {
      for (std::string name : {"a.test", "b.test", "localhost"}) {
        curio::SslConnectOptions options{.ssl = client_context(), .server_hostname = name};  // (named: GCC 12)
        SslStream s = co_await curio::open_connection("127.0.0.1", port, options);
        EXPECT_EQ(s.peer_subject(), "CN=" + name);  // the certificate verified for that name
        co_await s.shutdown();
      }
    });
  };
  curio::run(main());
}

TEST(TlsStream, MutualTlsAcceptsAClientWithACertificateFromTheTrustedCa) {
  auto main = []() -> Task<> {
    auto server = server_context();
    server.load_verify_locations(Pki::get().ca());
    server.set_verify_mode(curio::VerifyMode::Required);
    std::string seen;
    co_await with_server(
        server_options(server),
        [&](SslStream s, SocketAddress) -> Task<> {
          seen = s.peer_subject();
          co_await s.write("welcome\n");
          co_await s.shutdown();
        },
        [](std::uint16_t port) -> Task<> {
          auto client = client_context();
          client.load_cert_chain(Pki::get().cert("client"), Pki::get().key("client"));
          SslStream s = co_await curio::open_connection("localhost", port, client);
          EXPECT_EQ(co_await s.readline(), "welcome\n");
        });
    EXPECT_EQ(seen, "CN=test client");
  };
  curio::run(main());
}

TEST(TlsStream, MutualTlsRefusesAClientWithoutACertificate) {
  auto main = []() -> Task<> {
    auto server = server_context();
    server.load_verify_locations(Pki::get().ca());
    server.set_verify_mode(curio::VerifyMode::Required);
    std::vector<std::string> refused;
    curio::SslServerOptions opts{
        .ssl = server,
        .on_handshake_error = [&](const SocketAddress&, const curio::SslError& e) { refused.push_back(e.reason()); }};
    co_await with_server(opts, echo_bytes, [&](std::uint16_t port) -> Task<> {
      for (const char* who : {"", "stranger-client"}) {
        auto client = client_context();
        if (*who) client.load_cert_chain(Pki::get().cert(who), Pki::get().key(who));
        // TLS 1.3: the client's handshake ends before the server judges its certificate, so
        // the refusal (the server's alert) arrives at the first read.
        try {
          SslStream s = co_await curio::open_connection("localhost", port, client);
          co_await s.read();
          ADD_FAILURE() << "a client without an acceptable certificate was served";
        } catch (const curio::SslError& e) {
          EXPECT_NE(std::string(e.what()).find("alert"), std::string::npos) << e.what();
        }
      }
      while (refused.size() < 2) co_await curio::sleep(0.01);
    });
    EXPECT_EQ(refused.size(), 2u);
    if (refused.size() != 2) co_return;
    EXPECT_EQ(refused[0], "peer did not return a certificate");
    EXPECT_EQ(refused[1], "certificate verify failed");
  };
  curio::run(main());
}

TEST(TlsStream, ShutdownSendsCloseNotifyAndTheNextWriteFails) {
  auto main = []() -> Task<> {
    StreamPair p = co_await stream_pair();
    co_await handshake(p);
    co_await p.client.shutdown();
    EXPECT_EQ(co_await p.server.read(), "");
    EXPECT_TRUE(p.server.at_eof());
    try {
      co_await p.client.write("late");
      ADD_FAILURE() << "wrote after shutdown";
    } catch (const curio::SslError& e) {
      EXPECT_EQ(e.reason(), "protocol is shutdown") << e.what();
    }
  };
  curio::run(main());
}

TEST(TlsStream, ReadAndWriteDoTheHandshakeImplicitly) {
  auto main = []() -> Task<> {
    StreamPair p = co_await stream_pair();
    auto server = curio::spawn([&]() -> Task<std::string> { co_return co_await p.server.readline(); });
    co_await curio::timeout_after(5s, p.client.write("implicit\n"));
    EXPECT_EQ(co_await server.join(), "implicit\n");
    EXPECT_TRUE(p.client.handshake_done());
  };
  curio::run(main());
}

// --- cancellation and timeouts ---

TEST(TlsStream, ClientHandshakeTimesOutAgainstASilentServerAndLeaksNothing) {
  auto main = []() -> Task<> {
    long live = SslStream::live_count();
    int fds = open_fd_count();
    {
      Socket listener = loopback_listener();
      Socket c(AF_INET, SOCK_STREAM);
      co_await c.connect(listener.getsockname());  // accepted by the backlog; nobody speaks
      SslStream s(std::move(c), client_context(), "localhost");
      EXPECT_THROW(co_await curio::timeout_after(0.1, s.do_handshake()), curio::TaskTimeout);
      EXPECT_FALSE(s.handshake_done());
    }
    EXPECT_EQ(SslStream::live_count(), live);
    EXPECT_EQ(open_fd_count(), fds);
  };
  curio::run(main());
}

TEST(TlsStream, CancelledHandshakeResumesWhenCalledAgain) {
  auto main = []() -> Task<> {
    StreamPair p = co_await stream_pair();
    // The client's hello goes out, then it waits for the server, which has not started.
    EXPECT_THROW(co_await curio::timeout_after(0.05, p.client.do_handshake()), curio::TaskTimeout);
    auto server = curio::spawn(p.server.do_handshake());
    co_await curio::timeout_after(5s, p.client.do_handshake());
    co_await server.join();
    co_await p.client.write("resumed\n");
    EXPECT_EQ(co_await p.server.readline(), "resumed\n");
  };
  curio::run(main());
}

TEST(TlsStream, ServerHandshakeTimeoutDropsASilentClientAndServesOthers) {
  auto main = []() -> Task<> {
    std::vector<std::string> errors;
    curio::SslServerOptions opts{
        .ssl = server_context(),
        .handshake_timeout = 0.1,
        .on_handshake_error = [&](const SocketAddress&, const curio::SslError& e) { errors.push_back(e.what()); }};
    co_await with_server(opts, echo_bytes, [&](std::uint16_t port) -> Task<> {
      Socket silent(AF_INET, SOCK_STREAM);
      co_await silent.connect(SocketAddress::ipv4("127.0.0.1", port));
      SslStream s = co_await curio::open_connection("localhost", port, client_context());
      co_await s.write("still served\n");
      EXPECT_EQ(co_await s.readline(), "still served\n");
      // The silent client's connection is closed by the server after the timeout.
      EXPECT_EQ(co_await curio::timeout_after(5s, silent.recv()), "");
      co_await s.shutdown();
    });
    EXPECT_EQ(errors.size(), 1u);
    if (errors.empty()) co_return;
    EXPECT_NE(errors[0].find("timed out"), std::string::npos) << errors[0];
  };
  curio::run(main());
}

TEST(TlsStream, TimedOutReadLosesNothingAndTheNextReadContinues) {
  auto main = []() -> Task<> {
    StreamPair p = co_await stream_pair();
    co_await handshake(p);
    co_await p.server.write("first half, ");
    try {
      co_await curio::timeout_after(0.05, p.client.readline());
      ADD_FAILURE() << "readline returned without a newline";
    } catch (const curio::TaskTimeout&) {
    }
    EXPECT_EQ(p.client.buffered(), 12u);  // decrypted and kept
    co_await p.server.write("second half\n");
    EXPECT_EQ(co_await p.client.readline(), "first half, second half\n");
  };
  curio::run(main());
}

// A relay between two sockets that forwards a few bytes at a time: records arrive in pieces.
Task<> trickle(Socket& from, Socket& to, std::size_t chunk) {
  for (;;) {
    std::string data = co_await from.recv(chunk);
    if (data.empty()) break;
    co_await to.sendall(data);
    co_await curio::sleep(0.002);
  }
  to.shutdown(SHUT_WR);
}

TEST(TlsStream, ReadCancelledInTheMiddleOfARecordContinuesWithTheRestOfIt) {
  auto main = []() -> Task<> {
    auto [c, in] = co_await tcp_pair();
    auto [out, s] = co_await tcp_pair();
    Socket relay_in = std::move(in);
    Socket relay_out = std::move(out);
    SslStream client(std::move(c), client_context(), "localhost");
    SslStream server(std::move(s), server_context());
    auto forward = curio::spawn([&]() -> Task<> {
      curio::TaskGroup g;
      co_await g.scope([&]() -> Task<> {
        g.spawn([&]() -> Task<> { co_await trickle(relay_in, relay_out, 65536); });  // client -> server
        g.spawn([&]() -> Task<> { co_await trickle(relay_out, relay_in, 7); });      // server -> client
        co_return;
      });
    });
    auto srv = curio::spawn([&]() -> Task<> {
      co_await server.do_handshake();
      co_await server.write(std::string(3000, 'r') + "\n");
    });
    co_await curio::timeout_after(10s, client.do_handshake());
    co_await srv.join();
    // The record (3 KB, arriving 7 bytes every 2 ms) takes about a second: give up several times.
    int timeouts = 0;
    for (;;) {
      try {
        std::string line = co_await curio::timeout_after(0.03, client.readline());
        EXPECT_EQ(line, std::string(3000, 'r') + "\n");
        break;
      } catch (const curio::TaskTimeout&) {
        ++timeouts;
      }
    }
    EXPECT_GT(timeouts, 2);
    co_await forward.cancel();
  };
  curio::run(main());
}

TEST(TlsStream, CancelledReadByTaskCancelLeavesTheStreamUsable) {
  auto main = []() -> Task<> {
    StreamPair p = co_await stream_pair();
    co_await handshake(p);
    auto reader = curio::spawn(p.client.read_exactly(10));
    co_await p.server.write("12345");
    co_await curio::sleep(0.05);
    co_await reader.cancel();
    co_await p.server.write("67890");
    EXPECT_EQ(co_await p.client.read_exactly(10), "1234567890");
  };
  curio::run(main());
}

TEST(TlsStream, TimedOutWriteCompletesItsRecordsLaterAndReportsBytesWritten) {
  auto main = []() -> Task<> {
    StreamPair p = co_await stream_pair();
    co_await handshake(p);
    set_buffer_sizes(p.client.socket(), 16384);
    set_buffer_sizes(p.server.socket(), 16384);
    const std::string data = pattern(8 << 20);
    std::size_t written = 0;
    try {
      co_await curio::timeout_after(0.1, p.client.write(data));  // nobody reads: it blocks
      ADD_FAILURE() << "8 MB fitted in the socket buffers";
    } catch (const curio::TaskTimeout& e) {
      EXPECT_TRUE(e.bytes_written.has_value());
      written = e.bytes_written.value_or(0);
    }
    EXPECT_GT(written, 0u);
    EXPECT_LT(written, data.size());
    auto reader = curio::spawn(p.server.read_exactly(data.size()));
    co_await curio::timeout_after(10s, p.client.write(std::string_view(data).substr(written)));
    std::string got = co_await reader.join();
    EXPECT_TRUE(got == data) << "the stream lost or repeated bytes";
  };
  curio::run(main());
}

TEST(TlsStream, WritelinesReportsBytesWrittenOnTimeout) {
  auto main = []() -> Task<> {
    StreamPair p = co_await stream_pair();
    co_await handshake(p);
    set_buffer_sizes(p.client.socket(), 16384);
    set_buffer_sizes(p.server.socket(), 16384);
    std::string big(4 << 20, 'w');
    try {
      std::vector<std::string_view> lines{"head\n", big};
      co_await curio::timeout_after(0.1, p.client.writelines(lines));
      ADD_FAILURE() << "4 MB fitted in the socket buffers";
    } catch (const curio::TaskTimeout& e) {
      EXPECT_GT(e.bytes_written.value_or(0), 5u);
      EXPECT_LT(e.bytes_written.value_or(0), big.size() + 5);
    }
  };
  curio::run(main());
}
