// curio/channel/channel.hpp: Channel and Connection (curio.channel): whole messages between
// processes, on one machine (a Unix socket) or across machines (TCP), with optional HMAC
// challenge authentication by a shared key.
//
//   curio::Channel ch(curio::SocketAddress::ipv4("0.0.0.0", 30000));
//   curio::Connection c = co_await ch.accept("secret");      // the other side: co_await ch.connect("secret")
//   co_await c.send(std::string("hello"));                   // values through ChannelCodec<T>
//   auto reply = co_await c.recv<std::string>();
//
// Each message is one frame: a 4-byte big-endian length, then the bytes. A frame longer than the
// connection's maximum (kDefaultMaxFrame unless set) is refused before anything is allocated or
// sent. Cancelling or timing out recv never loses or splits a frame: the next recv continues the
// same one. Cancelling send before any byte of the frame went out leaves the connection as it
// was; once part of it went out, the connection is broken (shut down, broken() true, later
// operations raise BrokenChannelError) rather than left with half a frame. See docs/channel.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "curio/core/errors.hpp"
#include "curio/core/task.hpp"
#include "curio/io/socket.hpp"
#include "curio/io/socket_address.hpp"
#include "curio/process/run_in_process.hpp"  // ProcessCodec, the default ChannelCodec

namespace curio {

// The peer did not prove it knows the shared key (or the local side failed the peer's proof).
// Raised on both sides of a failed handshake.
class AuthenticationError : public CurioError {
 public:
  using CurioError::CurioError;
};

// The connection was broken by an earlier send interrupted mid-frame (or a protocol error such
// as an oversized frame): no further message can be framed correctly on it.
class BrokenChannelError : public CurioError {
 public:
  using CurioError::CurioError;
};

// How a value type travels in a message. Specialize for your own types:
//   static void encode(const T&, std::string& out); static T decode(std::string_view bytes).
// By default the same as ProcessCodec (raw bytes of trivially copyable types, std::string,
// std::vector of trivially copyable types, and any ProcessCodec specialization of yours): raw
// bytes assume both ends share the architecture; specialize for anything else.
template <class T, class = void>
struct ChannelCodec : ProcessCodec<T> {};

inline constexpr std::size_t kDefaultMaxFrame = std::size_t{64} << 20;  // 64 MiB

namespace detail {
struct ConnectionState;
}

class Connection {
 public:
  // A connection over a connected stream socket (Channel makes them; any stream socket works).
  explicit Connection(Socket socket, std::size_t max_frame = kDefaultMaxFrame);
  Connection(Connection&&) noexcept;
  Connection& operator=(Connection&&) noexcept;
  ~Connection();

  // One message of raw bytes. IOError (nothing sent) if larger than max_frame_size().
  Task<> send_bytes(std::string data);
  // The next whole message. EofError if the peer closed (mid-frame or between frames); IOError
  // (and the connection is broken) if the peer announces a frame over max_frame_size().
  Task<std::string> recv_bytes();

  // A value through ChannelCodec<T> (encoded before the call returns).
  template <class T>
  Task<> send(const T& value) {
    std::string out;
    ChannelCodec<T>::encode(value, out);
    return send_bytes(std::move(out));
  }
  template <class T>
  Task<T> recv() {
    std::string bytes = co_await recv_bytes();
    co_return ChannelCodec<T>::decode(bytes);
  }

  // The HMAC-SHA256 challenge handshake, both ways (each side proves it knows key). Channel
  // runs them when given a key; the accepting side calls authenticate_server, the connecting
  // side authenticate_client. AuthenticationError on both sides if the keys differ.
  Task<> authenticate_server(std::string key);
  Task<> authenticate_client(std::string key);

  bool broken() const noexcept;
  std::size_t max_frame_size() const noexcept;
  void set_max_frame_size(std::size_t n) noexcept;  // at most 2^32 - 1 (the header's range)
  Socket& socket() noexcept;
  void close() noexcept;

 private:
  std::unique_ptr<detail::ConnectionState> state_;  // stable address for pending operations
};

class Channel {
 public:
  // An IPv4/IPv6 address (port 0: the system picks, see address() after bind()) or a Unix
  // socket path (SocketAddress::unix_path). max_frame applies to every connection it makes.
  explicit Channel(SocketAddress address, std::size_t max_frame = kDefaultMaxFrame);
  Channel(Channel&& o) noexcept;
  Channel& operator=(Channel&&) = delete;
  // Closes the listener; removes the Unix socket file it created.
  ~Channel();

  // Binds and listens (accept() does it on first use). SystemError if the address is in use.
  void bind();
  // The address given, or once bound the actual one (with the chosen port).
  SocketAddress address() const;

  // The next connection; with a key, authenticated first (AuthenticationError if the peer
  // fails; the connection is then closed).
  Task<Connection> accept(std::optional<std::string> authkey = std::nullopt);
  // Connects to address(); with a key, authenticates (AuthenticationError if the keys differ).
  Task<Connection> connect(std::optional<std::string> authkey = std::nullopt);

  void close() noexcept;

 private:
  SocketAddress address_;
  std::size_t max_frame_;
  Socket listener_;
  std::string unlink_path_;  // the Unix socket file this channel created
};

}  // namespace curio
