// The stream-reads fuzz model, shared by fuzz/stream_reads (libFuzzer) and its regression test
// (tests/reliability/stream_reads_regression_test.cpp). check_stream_reads(input) decodes the
// input into a payload, a chunking of it (written by another task into a socketpair or a pipe,
// with yields between chunks) and a sequence of reads (read, read_exactly, readline, readlines,
// next_line, readall) with their limits, each optionally cancelled after a few scheduling
// cycles. Every outcome is checked against a model that knows the whole payload: a completed
// read returns exactly the bytes the model predicts, a cancelled read consumes nothing (its bytes
// come out of the next read), and all reads together return the payload: no byte lost or
// duplicated. Returns "" when everything held, else a description of the first violation.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "curio/curio.hpp"

namespace stream_model {

enum class Op { Read, ReadExactly, Readline, Readlines, NextLine, Readall };
constexpr int kOps = 6;

struct Step {
  Op op;
  std::size_t param;  // maxsize, n or maxlen
  int cancel_after;   // -1: never cancelled; else cancelled after this many yields
};

struct Chunk {
  std::size_t size;
  int yields;
};

struct Plan {
  bool use_pipe = false;
  std::vector<Step> steps;
  std::vector<Chunk> chunks;
  std::string payload;
};

// Decodes any byte string into a plan (never fails: missing bytes read as 0).
inline Plan decode(const std::uint8_t* data, std::size_t size) {
  std::size_t i = 0;
  auto next = [&]() -> std::uint8_t { return i < size ? data[i++] : 0; };
  Plan p;
  p.use_pipe = next() & 1;
  int nsteps = 1 + next() % 16;
  for (int s = 0; s < nsteps; ++s) {
    Op op = static_cast<Op>(next() % kOps);
    std::uint8_t b = next();
    std::size_t param = b < 192 ? 1 + b % 64 : 64 + (b - 192) * 64;  // mostly small limits
    std::uint8_t c = next();
    p.steps.push_back({op, param, c < 128 ? -1 : c & 7});
  }
  int nchunks = 1 + next() % 32;
  for (int c = 0; c < nchunks; ++c) {
    std::uint8_t b = next();
    p.chunks.push_back({1 + std::size_t(b & 0x7f), next() % 4});
  }
  if (i < size) p.payload.assign(reinterpret_cast<const char*>(data + i), std::min<std::size_t>(size - i, 8192));
  return p;
}

// What an operation produced.
struct Outcome {
  enum Kind { Bytes, Lines, EndOfLines, TooLong, Eof } kind = Bytes;
  std::string bytes;  // Bytes; Eof: the partial data
  std::vector<std::string> lines;
};

inline curio::Task<Outcome> perform(curio::Stream& s, Step st) {
  Outcome o;
  try {
    switch (st.op) {
      case Op::Read:
        o.bytes = co_await s.read(st.param);
        break;
      case Op::ReadExactly:
        o.bytes = co_await s.read_exactly(st.param);
        break;
      case Op::Readline:
        o.bytes = co_await s.readline(st.param);
        break;
      case Op::Readlines:
        o.kind = Outcome::Lines;
        o.lines = co_await s.readlines(st.param);
        break;
      case Op::NextLine: {
        auto line = co_await s.next_line(st.param);
        if (line)
          o.bytes = std::move(*line);
        else
          o.kind = Outcome::EndOfLines;
        break;
      }
      case Op::Readall:
        o.bytes = co_await s.readall();
        break;
    }
  } catch (const curio::LineTooLong&) {
    o.kind = Outcome::TooLong;
  } catch (const curio::EofError& e) {
    o.kind = Outcome::Eof;
    o.bytes = e.partial();
  }
  co_return o;
}

// The model's readline on the remaining bytes r: the line, or nullopt for LineTooLong.
inline std::optional<std::string> model_line(std::string_view r, std::size_t maxlen) {
  std::size_t nl = r.substr(0, maxlen).find('\n');
  if (nl != std::string_view::npos) return std::string(r.substr(0, nl + 1));
  if (r.size() >= maxlen) return std::nullopt;
  return std::string(r);
}

// Checks o against the model; advances consumed. Returns a violation or "".
inline std::string check(const Plan& p, const Step& st, const Outcome& o, std::size_t& consumed) {
  std::string_view r = std::string_view(p.payload).substr(consumed);
  auto fail = [&](const std::string& what) {
    return "step op=" + std::to_string(int(st.op)) + " param=" + std::to_string(st.param) + " at " +
           std::to_string(consumed) + ": " + what;
  };
  switch (st.op) {
    case Op::Read:
      if (o.kind != Outcome::Bytes) return fail("read raised");
      if (o.bytes.empty() != r.empty()) return fail("read returned \"\" with data left, or data at the end");
      if (o.bytes.size() > st.param) return fail("read returned more than maxsize");
      if (r.substr(0, o.bytes.size()) != o.bytes) return fail("read returned bytes out of order");
      consumed += o.bytes.size();
      return "";
    case Op::ReadExactly:
      if (r.size() >= st.param) {
        if (o.kind != Outcome::Bytes || o.bytes != r.substr(0, st.param)) return fail("read_exactly wrong bytes");
        consumed += st.param;
      } else {
        if (o.kind != Outcome::Eof || o.bytes != r) return fail("read_exactly should raise EofError with the rest");
        consumed += r.size();
      }
      return "";
    case Op::Readline:
    case Op::NextLine: {
      auto want = model_line(r, st.param);
      if (!want) {
        if (o.kind != Outcome::TooLong) return fail("expected LineTooLong");
        return "";  // nothing consumed
      }
      if (st.op == Op::NextLine && want->empty()) {
        if (o.kind != Outcome::EndOfLines) return fail("next_line should end at EOF");
        return "";
      }
      if (o.kind != Outcome::Bytes || o.bytes != *want) return fail("readline returned the wrong line");
      consumed += want->size();
      return "";
    }
    case Op::Readlines: {
      std::vector<std::string> want;
      bool too_long = false;
      std::string_view rest = r;
      while (!rest.empty()) {
        std::size_t nl = rest.find('\n');
        std::size_t len = nl == std::string_view::npos ? rest.size() : nl + 1;
        if (nl == std::string_view::npos ? len >= st.param : len > st.param) too_long = true;
        want.emplace_back(rest.substr(0, len));
        rest.remove_prefix(len);
      }
      if (too_long) {
        if (o.kind != Outcome::TooLong) return fail("expected LineTooLong from readlines");
        return "";
      }
      if (o.kind != Outcome::Lines || o.lines != want) return fail("readlines returned the wrong lines");
      consumed += r.size();
      return "";
    }
    case Op::Readall:
      if (o.kind != Outcome::Bytes || o.bytes != r) return fail("readall did not return the rest");
      consumed += r.size();
      return "";
  }
  return "";
}

inline curio::Task<> write_all(int fd, std::string_view data) {
  // The write end is non-blocking: a Unix socket charges every tiny write a whole buffer's
  // overhead, so a few hundred 1-byte chunks fill it; then the writer yields to the reader
  // (a blocking write here would stop the whole kernel, reader included).
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EAGAIN) {
      co_await curio::sleep(0);
      continue;
    }
    if (n < 0) throw std::runtime_error(std::string("fuzz writer: write failed: ") + std::strerror(errno));
    data.remove_prefix(static_cast<std::size_t>(n));
  }
}

inline curio::Task<std::string> run_steps(const Plan& p, curio::Stream& stream) {
  std::size_t consumed = 0;
  const bool trace = std::getenv("STREAM_MODEL_TRACE") != nullptr;  // for debugging a finding
  if (trace)
    std::fprintf(stderr, "payload %zu bytes, %zu chunks, pipe %d\n", p.payload.size(), p.chunks.size(), p.use_pipe);
  for (const Step& st : p.steps) {
    if (trace)
      std::fprintf(stderr, "step op=%d param=%zu cancel_after=%d (consumed %zu, buffered %zu)\n", int(st.op), st.param,
                   st.cancel_after, consumed, stream.buffered());
    auto t = curio::spawn(perform(stream, st));
    if (st.cancel_after >= 0) {
      for (int y = 0; y < st.cancel_after; ++y) co_await curio::sleep(0);
      co_await t.cancel();
    }
    co_await t.wait();
    std::optional<Outcome> o;
    try {
      o = t.result_as<Outcome>();
    } catch (const curio::CancelledError&) {
      continue;  // a cancelled read consumes nothing: the model does not advance
    } catch (const std::exception& e) {
      co_return std::string("unexpected exception: ") + e.what();
    }
    std::string violation = check(p, st, *o, consumed);
    if (!violation.empty()) co_return violation;
  }
  // Whatever is left comes out of one final readall: together, exactly the payload.
  std::string rest = co_await stream.readall();
  if (std::string_view(p.payload).substr(consumed) != rest)
    co_return "final readall: bytes lost or duplicated (consumed " + std::to_string(consumed) + " of " +
        std::to_string(p.payload.size()) + ", rest " + std::to_string(rest.size()) + ")";
  co_return "";
}

inline curio::Task<std::string> drive(const Plan& p) {
  int fds[2];
  bool ok = p.use_pipe ? ::pipe2(fds, O_CLOEXEC) == 0 : ::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0;
  if (!ok) co_return "cannot create the pipe";
  int write_fd = fds[1];
  ::fcntl(write_fd, F_SETFL, ::fcntl(write_fd, F_GETFL) | O_NONBLOCK);
  auto writer = curio::spawn([&]() -> curio::Task<> {
    std::string_view rest = p.payload;
    for (std::size_t c = 0; !rest.empty(); ++c) {
      const Chunk& ch = p.chunks[c % p.chunks.size()];
      std::size_t n = std::min(ch.size, rest.size());
      co_await write_all(write_fd, rest.substr(0, n));
      rest.remove_prefix(n);
      for (int y = 0; y < ch.yields; ++y) co_await curio::sleep(0);
    }
    ::close(write_fd);  // end of stream
  });
  std::string violation;
  if (p.use_pipe) {
    curio::FileStream stream(fds[0]);
    violation = co_await run_steps(p, stream);
  } else {
    curio::Socket sock = curio::Socket::from_fd(fds[0]);
    curio::SocketStream stream(sock);
    violation = co_await run_steps(p, stream);
  }
  try {
    co_await writer.join();
  } catch (const curio::TaskError& e) {
    if (violation.empty()) violation = std::string("writer failed: ") + curio::describe_exception(e.cause());
  }
  co_return violation;
}

inline std::string check_stream_reads(const std::uint8_t* data, std::size_t size) {
  ::signal(SIGPIPE, SIG_IGN);  // a violation closes the reader early; the writer must not die
  Plan p = decode(data, size);
  return curio::run(drive(p));
}

}  // namespace stream_model
