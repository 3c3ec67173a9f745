// The strict HTTP/1.1 parser (parse_request_head), the chunked decoder, and RequestReader over
// a socket pair: what is accepted, and the status code of each refusal.
// Timing tolerance: the reader tests use 3 ms sleeps only to split sends into separate reads,
// and 2 s timeouts only to end a test that would otherwise hang; no duration is asserted.
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <chrono>
#include <string>

#include "curio/curio.hpp"

using namespace std::chrono_literals;
using curio::Task;
using namespace curio::http;

namespace {

// The status code parse_request_head refuses head with (0 if it accepts it).
int status_of(const std::string& head, const Limits& limits = {}) {
  try {
    parse_request_head(head, limits);
    return 0;
  } catch (HttpError& e) {
    return e.status();
  }
}

std::string get(const std::string& fields) { return "GET / HTTP/1.1\r\nHost: h\r\n" + fields + "\r\n"; }

int chunked_status(const std::string& body, const Limits& limits = {}) {
  try {
    ChunkedDecoder d(limits);
    std::string out;
    d.feed(body, out);
    return d.done() ? 0 : -1;
  } catch (HttpError& e) {
    return e.status();
  }
}

}  // namespace

// --- request line and fields ---

TEST(HttpParser, ParsesRequestLineAndFields) {
  RequestHead h = parse_request_head("POST /echo?x=1 HTTP/1.1\r\nHost: example\r\nContent-Length: 5\r\n\r\n");
  EXPECT_EQ(h.method(), "POST");
  EXPECT_EQ(h.target(), "/echo?x=1");
  EXPECT_EQ(h.path(), "/echo");
  EXPECT_EQ(h.version_minor(), 1);
  EXPECT_EQ(h.content_length(), 5u);
  EXPECT_TRUE(h.has_body());
  EXPECT_FALSE(h.chunked());
  EXPECT_TRUE(h.keep_alive());
  ASSERT_EQ(h.fields().size(), 2u);
  EXPECT_EQ(h.fields()[0].name, "Host");
  EXPECT_EQ(h.fields()[0].value, "example");
}

TEST(HttpParser, FieldValuesLoseSurroundingWhitespace) {
  RequestHead h = parse_request_head(get("X-A: \t  spaced out \t\r\nX-Empty:\r\n"));
  EXPECT_EQ(h.header("x-a"), "spaced out");
  EXPECT_EQ(h.header("X-Empty"), "");
}

TEST(HttpParser, HeaderLookupIsCaseInsensitiveAndMissingIsNullopt) {
  RequestHead h = parse_request_head(get("Content-Type: text/plain\r\n"));
  EXPECT_EQ(h.header("CONTENT-TYPE"), "text/plain");
  EXPECT_EQ(h.header("X-Missing"), std::nullopt);
}

TEST(HttpParser, AMovedHeadKeepsItsViewsValid) {
  RequestHead a = parse_request_head(get("X-Long-Field-Name: a value long enough to live on the heap\r\n"));
  RequestHead b = std::move(a);
  RequestHead c;
  c = std::move(b);
  EXPECT_EQ(c.method(), "GET");
  EXPECT_EQ(c.header("x-long-field-name"), "a value long enough to live on the heap");
  EXPECT_EQ(c.method().data(), c.raw().data());
}

TEST(HttpParser, AsteriskTargetOnlyForOptions) {
  EXPECT_EQ(status_of("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n"), 0);
  EXPECT_EQ(status_of("GET * HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
}

TEST(HttpParser, TargetMustBeOriginForm) {
  EXPECT_EQ(status_of("GET http://h/ HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
  EXPECT_EQ(status_of("GET x HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
}

TEST(HttpParser, MalformedRequestLinesAre400) {
  EXPECT_EQ(status_of("GET  / HTTP/1.1\r\nHost: h\r\n\r\n"), 400);  // two spaces
  EXPECT_EQ(status_of("GET / HTTP/1.1 \r\nHost: h\r\n\r\n"), 400);  // trailing space
  EXPECT_EQ(status_of("GET /\r\nHost: h\r\n\r\n"), 400);            // no version
  EXPECT_EQ(status_of("G(T / HTTP/1.1\r\nHost: h\r\n\r\n"), 400);   // not a token
  EXPECT_EQ(status_of("GET /a\x7f HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
  EXPECT_EQ(status_of("GET / HTTP/1.10\r\nHost: h\r\n\r\n"), 400);
  EXPECT_EQ(status_of("GET / http/1.1\r\nHost: h\r\n\r\n"), 400);
}

TEST(HttpParser, MajorVersionOtherThanOneIs505) {
  EXPECT_EQ(status_of("GET / HTTP/2.0\r\nHost: h\r\n\r\n"), 505);
  EXPECT_EQ(status_of("GET / HTTP/0.9\r\n\r\n"), 505);
}

TEST(HttpParser, MinorVersionAboveOneIsAnsweredAsOneOne) {
  EXPECT_EQ(parse_request_head("GET / HTTP/1.7\r\nHost: h\r\n\r\n").version_minor(), 1);
}

TEST(HttpParser, BareLfOrCrIs400) {
  EXPECT_EQ(status_of("GET / HTTP/1.1\nHost: h\r\n\r\n"), 400);
  EXPECT_EQ(status_of("GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n"), 400);
  EXPECT_EQ(status_of("GET / HTTP/1.1\r\nHost: h\n\r\n"), 400);
}

TEST(HttpParser, HeadWithoutTheEmptyLineIs400) { EXPECT_EQ(status_of("GET / HTTP/1.1\r\nHost: h\r\n"), 400); }

TEST(HttpParser, BytesAfterTheEmptyLineAre400) {
  EXPECT_EQ(status_of("GET / HTTP/1.1\r\nHost: h\r\n\r\nX: y\r\n\r\n"), 400);
}

TEST(HttpParser, WhitespaceBeforeTheColonIs400) { EXPECT_EQ(status_of(get("X-A : b\r\n")), 400); }

TEST(HttpParser, ObsoleteLineFoldingIs400) { EXPECT_EQ(status_of(get("X-A: b\r\n  continued\r\n")), 400); }

TEST(HttpParser, FieldWithoutColonOrNameIs400) {
  EXPECT_EQ(status_of(get("NoColon\r\n")), 400);
  EXPECT_EQ(status_of(get(": value\r\n")), 400);
}

TEST(HttpParser, ControlCharacterInAValueIs400) {
  EXPECT_EQ(status_of(get(std::string("X-A: a\0b\r\n", 10))), 400);
  EXPECT_EQ(status_of(get("X-A: a\x01z\r\n")), 400);
}

TEST(HttpParser, ObsTextInAValueIsAccepted) { EXPECT_EQ(status_of(get("X-A: caf\xc3\xa9\r\n")), 0); }

TEST(HttpParser, Http11WithoutHostIs400) { EXPECT_EQ(status_of("GET / HTTP/1.1\r\n\r\n"), 400); }

TEST(HttpParser, TwoHostFieldsAre400) { EXPECT_EQ(status_of(get("Host: other\r\n")), 400); }

TEST(HttpParser, Http10NeedsNoHostAndClosesByDefault) {
  RequestHead h = parse_request_head("GET / HTTP/1.0\r\n\r\n");
  EXPECT_EQ(h.version_minor(), 0);
  EXPECT_FALSE(h.keep_alive());
  EXPECT_TRUE(parse_request_head("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").keep_alive());
}

TEST(HttpParser, ConnectionCloseTokenEndsKeepAlive) {
  EXPECT_FALSE(parse_request_head(get("Connection: upgrade, close\r\n")).keep_alive());
  EXPECT_TRUE(parse_request_head(get("Connection: keep-alive\r\n")).keep_alive());
}

// --- body framing ---

TEST(HttpParser, IdenticalRepeatedContentLengthIsAccepted) {
  EXPECT_EQ(parse_request_head(get("Content-Length: 3\r\nContent-Length: 3\r\n")).content_length(), 3u);
}

TEST(HttpParser, ConflictingContentLengthsAre400) {
  EXPECT_EQ(status_of(get("Content-Length: 3\r\nContent-Length: 4\r\n")), 400);
}

TEST(HttpParser, ContentLengthThatIsNotDigitsIs400) {
  for (const char* v : {"", "-1", "+1", "1x", "0x10", "1 2", "3, 3", "99999999999999999999"})
    EXPECT_EQ(status_of(get(std::string("Content-Length: ") + v + "\r\n")), 400) << v;
}

TEST(HttpParser, ChunkedIsRecognisedCaseInsensitively) {
  RequestHead h = parse_request_head(get("Transfer-Encoding: Chunked\r\n"));
  EXPECT_TRUE(h.chunked());
  EXPECT_TRUE(h.has_body());
}

TEST(HttpParser, TransferEncodingWithContentLengthIs400) {
  EXPECT_EQ(status_of(get("Transfer-Encoding: chunked\r\nContent-Length: 3\r\n")), 400);
}

TEST(HttpParser, UnknownTransferCodingIs501) {
  EXPECT_EQ(status_of(get("Transfer-Encoding: gzip, chunked\r\n")), 501);
  EXPECT_EQ(status_of(get("Transfer-Encoding: identity\r\n")), 501);
}

TEST(HttpParser, ChunkedNotLastIs400) {
  EXPECT_EQ(status_of(get("Transfer-Encoding: chunked, chunked\r\n")), 400);
  EXPECT_EQ(status_of(get("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n")), 400);
  EXPECT_EQ(status_of(get("Transfer-Encoding: ,\r\n")), 400);
}

TEST(HttpParser, TransferEncodingInHttp10Is400) {
  EXPECT_EQ(status_of("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"), 400);
}

TEST(HttpParser, Expect100ContinueIsRecognisedOthersAre417) {
  EXPECT_TRUE(parse_request_head(get("Expect: 100-Continue\r\n")).expects_continue());
  EXPECT_EQ(status_of(get("Expect: something-else\r\n")), 417);
}

// --- limits ---

TEST(HttpParser, HeadOverTheLimitIs431) {
  Limits limits;
  limits.max_head = 64;
  EXPECT_EQ(status_of(get("X: " + std::string(40, 'a') + "\r\n"), limits), 431);
  EXPECT_EQ(status_of(get("X: a\r\n"), limits), 0);
}

TEST(HttpParser, TooManyFieldsAre431) {
  Limits limits;
  limits.max_headers = 3;
  EXPECT_EQ(status_of(get("A: 1\r\nB: 2\r\n"), limits), 0);
  EXPECT_EQ(status_of(get("A: 1\r\nB: 2\r\nC: 3\r\n"), limits), 431);
}

TEST(HttpParser, FindHeadEndWaitsForTheEmptyLine) {
  EXPECT_EQ(find_head_end("GET / HTTP/1.1\r\nHost: h\r\n"), std::string_view::npos);
  EXPECT_EQ(find_head_end("GET / HTTP/1.1\r\n\r\nrest"), 18u);
}

TEST(HttpParser, StandardMethodsAndReasonPhrases) {
  EXPECT_TRUE(is_standard_method("PATCH"));
  EXPECT_FALSE(is_standard_method("get"));
  EXPECT_FALSE(is_standard_method("BREW"));
  EXPECT_EQ(reason_phrase(431), "Request Header Fields Too Large");
  EXPECT_EQ(reason_phrase(299), "");
}

// --- chunked bodies ---

TEST(HttpChunked, DecodesChunksExtensionsAndTrailers) {
  ChunkedDecoder d;
  std::string body;
  std::string in = "4;name=val\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nX-Trailer: t\r\n\r\n";
  EXPECT_EQ(d.feed(in, body), in.size());
  EXPECT_TRUE(d.done());
  EXPECT_EQ(body, "Wikipedia in\r\n\r\nchunks.");
}

TEST(HttpChunked, DecodesAnySplitOfTheInput) {
  std::string in = "3\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\n\r\n";
  ChunkedDecoder d;
  std::string body;
  for (char c : in) EXPECT_EQ(d.feed(std::string_view(&c, 1), body), 1u);
  EXPECT_TRUE(d.done());
  EXPECT_EQ(body, "abc0123456789abcdef");
}

TEST(HttpChunked, StopsAtTheEndOfTheBody) {
  ChunkedDecoder d;
  std::string body;
  std::string in = "1\r\nx\r\n0\r\n\r\nGET / HTTP/1.1\r\n";
  EXPECT_EQ(d.feed(in, body), in.find("GET"));
  EXPECT_TRUE(d.done());
}

TEST(HttpChunked, MalformedChunksAre400) {
  EXPECT_EQ(chunked_status("\r\n"), 400);                  // no size
  EXPECT_EQ(chunked_status("g\r\n"), 400);                 // not hex
  EXPECT_EQ(chunked_status(" 1\r\nx\r\n0\r\n\r\n"), 400);  // whitespace
  EXPECT_EQ(chunked_status("1\nx\r\n0\r\n\r\n"), 400);     // bare LF
  EXPECT_EQ(chunked_status("1\r\nxy\r\n0\r\n\r\n"), 400);  // data longer than its size
  EXPECT_EQ(chunked_status("1;\x01\r\nx\r\n0\r\n\r\n"), 400);
  EXPECT_EQ(chunked_status("0\r\n folded\r\n\r\n"), 400);
  EXPECT_EQ(chunked_status(";ext\r\n"), 400);
}

TEST(HttpChunked, ChunkSizeOverflowIs400) { EXPECT_EQ(chunked_status("ffffffffffffffffff\r\n"), 400); }

TEST(HttpChunked, OverLongSizeLineIs400) {
  EXPECT_EQ(chunked_status("1;" + std::string(300, 'e') + "\r\nx\r\n0\r\n\r\n"), 400);
}

TEST(HttpChunked, BodyOverTheLimitIs413BeforeItsData) {
  Limits limits;
  limits.max_body = 10;
  EXPECT_EQ(chunked_status("a\r\n0123456789\r\n0\r\n\r\n", limits), 0);
  EXPECT_EQ(chunked_status("a\r\n0123456789\r\n1\r\n", limits), 413);
}

TEST(HttpChunked, TrailerSectionOverTheHeadLimitIs431) {
  Limits limits;
  limits.max_head = 32;
  EXPECT_EQ(chunked_status("0\r\nX: " + std::string(40, 't') + "\r\n\r\n", limits), 431);
}

TEST(HttpChunked, IncompleteBodyIsNotDone) { EXPECT_EQ(chunked_status("3\r\nab"), -1); }

// --- RequestReader over a socket pair ---

namespace {
Task<> send_parts(curio::Socket& s, std::vector<std::string> parts, bool close_after) {
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) co_await curio::sleep(3ms);
    co_await s.sendall(parts[i]);
  }
  if (close_after) s.shutdown(SHUT_WR);
}
}  // namespace

TEST(HttpReader, ReadsPipelinedRequestsInOrderAcrossSplitReads) {
  auto main = []() -> Task<> {
    auto [a, b] = curio::Socket::pair();
    curio::SocketStream s(a);
    RequestReader reader(s);
    auto sender = curio::spawn(send_parts(b,
                                          {"\r\nPOST /a HTTP/1.1\r\nHost: h\r\nContent-Le", "ngth: 3\r\n\r\nab",
                                           "cPOST /b HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: "
                                           "chunked\r\n\r\n2\r\nxy\r\n0\r\n\r\nGET /c HTTP/1.1\r\nHost: h\r\n\r\n"},
                                          true));
    co_await curio::timeout_after(2s, [&]() -> Task<> {
      EXPECT_TRUE(co_await reader.wait_request());
      RequestHead h1 = co_await reader.read_head();
      EXPECT_EQ(h1.path(), "/a");
      EXPECT_EQ(co_await reader.read_body(h1), "abc");
      EXPECT_TRUE(co_await reader.wait_request());
      RequestHead h2 = co_await reader.read_head();
      EXPECT_EQ(h2.path(), "/b");
      EXPECT_EQ(co_await reader.read_body(h2), "xy");
      RequestHead h3 = co_await reader.read_head();
      EXPECT_EQ(h3.path(), "/c");
      EXPECT_EQ(co_await reader.read_body(h3), "");
      EXPECT_FALSE(co_await reader.wait_request());
    }());
    co_await sender.join();
  };
  curio::run(main());
}

TEST(HttpReader, EndOfStreamInsideAHeadRaisesEofError) {
  auto main = []() -> Task<> {
    auto [a, b] = curio::Socket::pair();
    curio::SocketStream s(a);
    RequestReader reader(s);
    co_await b.sendall("GET / HTTP/1.1\r\nHo");
    b.shutdown(SHUT_WR);
    EXPECT_TRUE(co_await reader.wait_request());
    EXPECT_THROW(co_await curio::timeout_after(2s, reader.read_head()), curio::EofError);
  };
  curio::run(main());
}

TEST(HttpReader, EndOfStreamInsideABodyRaisesEofErrorWithThePartialBody) {
  auto main = []() -> Task<> {
    auto [a, b] = curio::Socket::pair();
    curio::SocketStream s(a);
    RequestReader reader(s);
    co_await b.sendall("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nabc");
    b.shutdown(SHUT_WR);
    RequestHead h = co_await reader.read_head();
    try {
      co_await curio::timeout_after(2s, reader.read_body(h));
      ADD_FAILURE() << "no EofError";
    } catch (curio::EofError& e) {
      EXPECT_EQ(e.partial(), "abc");
    }
  };
  curio::run(main());
}

TEST(HttpReader, HeadOverTheLimitIs431WithoutReadingFurther) {
  auto main = []() -> Task<> {
    auto [a, b] = curio::Socket::pair();
    curio::SocketStream s(a);
    RequestReader reader(s);
    co_await b.sendall("GET /" + std::string(9000, 'a'));  // no end of head: the limit decides
    try {
      co_await curio::timeout_after(2s, reader.read_head());
      ADD_FAILURE() << "no HttpError";
    } catch (HttpError& e) {
      EXPECT_EQ(e.status(), 431);
    }
  };
  curio::run(main());
}

TEST(HttpReader, ContentLengthOverTheLimitIs413BeforeReadingTheBody) {
  auto main = []() -> Task<> {
    auto [a, b] = curio::Socket::pair();
    curio::SocketStream s(a);
    Limits limits;
    limits.max_body = 4;
    RequestReader reader(s, limits);
    co_await b.sendall("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\n");
    RequestHead h = co_await reader.read_head();
    try {
      co_await curio::timeout_after(2s, reader.read_body(h));
      ADD_FAILURE() << "no HttpError";
    } catch (HttpError& e) {
      EXPECT_EQ(e.status(), 413);
    }
  };
  curio::run(main());
}

TEST(HttpReader, EndlessEmptyLinesAre400) {
  auto main = []() -> Task<> {
    auto [a, b] = curio::Socket::pair();
    curio::SocketStream s(a);
    RequestReader reader(s);
    std::string blank;
    for (int i = 0; i < 5000; ++i) blank += "\r\n";
    co_await b.sendall(blank);
    try {
      co_await curio::timeout_after(2s, reader.wait_request());
      ADD_FAILURE() << "no HttpError";
    } catch (HttpError& e) {
      EXPECT_EQ(e.status(), 400);
    }
  };
  curio::run(main());
}
