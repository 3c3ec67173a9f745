// src/channel/channel.cpp: framing, cancellation rules and the HMAC handshake of Channel.
// Sends and receives are each serialized by a curio::Lock, so two tasks sending at once never
// interleave their frames. recv keeps the length of a frame whose body it has not finished in
// the state, and the stream keeps the bytes that arrived: a cancelled recv resumes exactly there.
#include "curio/channel/channel.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cstring>

#include "curio/io/stream.hpp"
#include "curio/sync/lock.hpp"

namespace curio {

namespace detail {

struct ConnectionState {
  explicit ConnectionState(Socket s, std::size_t max) : socket(std::move(s)), stream(socket), max_frame(max) {}
  Socket socket;
  SocketStream stream;  // borrows socket (reads only; sends go straight to the socket)
  Lock send_lock;
  Lock recv_lock;
  std::size_t max_frame;
  std::optional<std::uint32_t> pending_size;  // header read, body not yet
  bool broken = false;
  std::string broken_why;

  void require_usable() const {
    if (broken) throw BrokenChannelError("curio: the channel connection is broken: " + broken_why);
    if (!socket) throw BrokenChannelError("curio: the channel connection is closed");
  }
  void mark_broken(std::string why) noexcept {
    if (broken) return;
    broken = true;
    broken_why = std::move(why);
    if (socket) ::shutdown(socket.fileno(), SHUT_RDWR);  // the peer sees EOF, not a stalled frame
  }
};

namespace {

constexpr std::size_t kHeader = 4;
constexpr std::size_t kNonce = 32;
constexpr std::size_t kAuthMaxFrame = 256;
constexpr std::string_view kChallenge = "#CHALLENGE#";
constexpr std::string_view kWelcome = "#WELCOME#";
constexpr std::string_view kFailure = "#FAILURE#";

std::array<char, kHeader> encode_header(std::uint32_t n) {
  return {static_cast<char>(n >> 24), static_cast<char>(n >> 16), static_cast<char>(n >> 8), static_cast<char>(n)};
}
std::uint32_t decode_header(std::string_view h) {
  auto b = [&](std::size_t i) { return static_cast<std::uint32_t>(static_cast<unsigned char>(h[i])); };
  return b(0) << 24 | b(1) << 16 | b(2) << 8 | b(3);
}

std::string too_large(std::size_t n, std::size_t max) {
  return "curio: a channel message of " + std::to_string(n) + " bytes exceeds the maximum frame size of " +
         std::to_string(max) + " bytes";
}

Task<> send_frame(ConnectionState* s, std::string data) {
  s->require_usable();
  if (data.size() > s->max_frame) throw IOError(too_large(data.size(), s->max_frame));
  auto held = co_await s->send_lock.scoped();
  s->require_usable();
  auto header = encode_header(static_cast<std::uint32_t>(data.size()));
  std::size_t sent = 0;  // bytes of this frame that went out
  try {
    if (data.size() <= 65536) {  // one system call for small messages
      std::string frame(header.data(), header.size());
      frame += data;
      co_await s->socket.sendall(frame);
    } else {
      co_await s->socket.sendall(std::string_view(header.data(), header.size()));
      sent = kHeader;
      co_await s->socket.sendall(data);
    }
  } catch (CancelledError& e) {
    sent += e.bytes_sent.value_or(0);
    if (sent > 0)
      s->mark_broken("a send was cancelled after " + std::to_string(sent) + " of " +
                     std::to_string(kHeader + data.size()) + " bytes of its frame");
    throw;
  } catch (...) {
    s->mark_broken("a send failed mid-frame");
    throw;
  }
}

Task<std::string> recv_frame(ConnectionState* s, std::size_t max) {
  s->require_usable();
  auto held = co_await s->recv_lock.scoped();
  s->require_usable();
  try {
    if (!s->pending_size) {
      std::string h = co_await s->stream.read_exactly(kHeader);  // cancelled: the bytes stay buffered
      std::uint32_t n = decode_header(h);
      if (n > max) {
        s->mark_broken("the peer announced a frame over the maximum size");
        throw IOError(too_large(n, max));
      }
      s->pending_size = n;
    }
    std::string body = co_await s->stream.read_exactly(*s->pending_size);
    s->pending_size.reset();
    co_return body;
  } catch (const EofError&) {
    throw;  // the peer closed: nothing to mark, every later recv sees the same end
  } catch (const CancelledError&) {
    throw;  // resumable: the header length and the bytes that arrived are kept
  } catch (const IOError&) {
    throw;
  } catch (...) {
    s->mark_broken("a receive failed");
    throw;
  }
}

std::string hmac_sha256(const std::string& key, std::string_view message) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
            reinterpret_cast<const unsigned char*>(message.data()), message.size(), out, &len))
    throw RuntimeError("curio: HMAC-SHA256 failed in OpenSSL");
  return std::string(reinterpret_cast<char*>(out), len);
}

bool same_digest(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

// Sends a random challenge; the peer must answer with HMAC(key, challenge).
Task<> deliver_challenge(ConnectionState* s, const std::string& key) {
  std::string nonce(kNonce, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(nonce.data()), static_cast<int>(nonce.size())) != 1)
    throw RuntimeError("curio: RAND_bytes failed in OpenSSL");
  co_await send_frame(s, std::string(kChallenge) + nonce);
  std::string response = co_await recv_frame(s, kAuthMaxFrame);
  if (same_digest(response, hmac_sha256(key, nonce))) {
    co_await send_frame(s, std::string(kWelcome));
  } else {
    co_await send_frame(s, std::string(kFailure));
    throw AuthenticationError("curio: channel authentication failed: the peer's digest is wrong (different key)");
  }
}

// Answers the peer's challenge with HMAC(key, challenge).
Task<> answer_challenge(ConnectionState* s, const std::string& key) {
  std::string message = co_await recv_frame(s, kAuthMaxFrame);
  if (message.size() != kChallenge.size() + kNonce || message.compare(0, kChallenge.size(), kChallenge) != 0)
    throw AuthenticationError("curio: channel authentication failed: the peer sent no valid challenge");
  co_await send_frame(s, hmac_sha256(key, std::string_view(message).substr(kChallenge.size())));
  std::string verdict = co_await recv_frame(s, kAuthMaxFrame);
  if (verdict != kWelcome)
    throw AuthenticationError("curio: channel authentication failed: the peer refused our digest (different key)");
}

Task<> authenticate(ConnectionState* s, std::string key, bool server) {
  if (!s) throw RuntimeError("curio: operation on a moved-from Connection");
  if (server) {
    co_await deliver_challenge(s, key);
    co_await answer_challenge(s, key);
  } else {
    co_await answer_challenge(s, key);
    co_await deliver_challenge(s, key);
  }
}

ConnectionState* require(const std::unique_ptr<ConnectionState>& s) {
  if (!s) throw RuntimeError("curio: operation on a moved-from Connection");
  return s.get();
}

}  // namespace
}  // namespace detail

Connection::Connection(Socket socket, std::size_t max_frame)
    : state_(std::make_unique<detail::ConnectionState>(std::move(socket), max_frame)) {
  set_max_frame_size(max_frame);
}
Connection::Connection(Connection&&) noexcept = default;
Connection& Connection::operator=(Connection&&) noexcept = default;
Connection::~Connection() = default;

Task<> Connection::send_bytes(std::string data) { return detail::send_frame(detail::require(state_), std::move(data)); }
Task<std::string> Connection::recv_bytes() {
  detail::ConnectionState* s = detail::require(state_);
  return detail::recv_frame(s, s->max_frame);
}
Task<> Connection::authenticate_server(std::string key) {
  return detail::authenticate(state_.get(), std::move(key), true);
}
Task<> Connection::authenticate_client(std::string key) {
  return detail::authenticate(state_.get(), std::move(key), false);
}
bool Connection::broken() const noexcept { return state_ && state_->broken; }
std::size_t Connection::max_frame_size() const noexcept { return state_ ? state_->max_frame : 0; }
void Connection::set_max_frame_size(std::size_t n) noexcept {
  if (state_) state_->max_frame = std::min<std::size_t>(n, UINT32_MAX);
}
Socket& Connection::socket() noexcept { return state_->socket; }
void Connection::close() noexcept {
  if (state_) state_->socket.close();
}

// --- Channel ---

Channel::Channel(SocketAddress address, std::size_t max_frame) : address_(std::move(address)), max_frame_(max_frame) {}

Channel::Channel(Channel&& o) noexcept
    : address_(o.address_),
      max_frame_(o.max_frame_),
      listener_(std::move(o.listener_)),
      unlink_path_(std::exchange(o.unlink_path_, {})) {}

Channel::~Channel() { close(); }

void Channel::close() noexcept {
  listener_.close();
  if (!unlink_path_.empty()) ::unlink(unlink_path_.c_str());
  unlink_path_.clear();
}

void Channel::bind() {
  if (listener_) return;
  if (address_.empty()) throw RuntimeError("curio: Channel without an address");
  Socket s(address_.family(), SOCK_STREAM);
  if (address_.family() != AF_UNIX) s.set_reuse_address();
  s.bind(address_);
  s.listen();
  if (address_.family() == AF_UNIX) unlink_path_ = address_.host();
  address_ = s.getsockname();
  listener_ = std::move(s);
}

SocketAddress Channel::address() const { return address_; }

namespace {
Task<Connection> accept_on(Socket* listener, std::size_t max_frame, std::optional<std::string> key) {
  auto [sock, peer] = co_await listener->accept();
  if (sock.getsockname().family() != AF_UNIX) sock.set_nodelay();
  Connection c(std::move(sock), max_frame);
  if (key) co_await c.authenticate_server(std::move(*key));
  co_return c;
}
Task<Connection> connect_to(SocketAddress address, std::size_t max_frame, std::optional<std::string> key) {
  Socket sock(address.family(), SOCK_STREAM);
  co_await sock.connect(address);
  if (address.family() != AF_UNIX) sock.set_nodelay();
  Connection c(std::move(sock), max_frame);
  if (key) co_await c.authenticate_client(std::move(*key));
  co_return c;
}
}  // namespace

Task<Connection> Channel::accept(std::optional<std::string> authkey) {
  bind();
  return accept_on(&listener_, max_frame_, std::move(authkey));
}

Task<Connection> Channel::connect(std::optional<std::string> authkey) {
  return connect_to(address_, max_frame_, std::move(authkey));
}

}  // namespace curio
