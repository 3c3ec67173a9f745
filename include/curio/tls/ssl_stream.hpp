// curio/tls/ssl_stream.hpp: SslStream, a TLS connection over a connected Socket with the stream
// interface of SocketStream (read, read_exactly, readline, readlines, readall, next_line, write,
// writelines) plus do_handshake, shutdown (close_notify), and what was negotiated (ALPN
// protocol, cipher, version, the peer certificate's subject).
//
// OpenSSL works on memory buffers only; the ciphertext goes through the Socket's own recv_into
// and send, so TLS is independent of the kernel's I/O backend. Cancellation (and timeouts):
//  - a cancelled read loses nothing: received records stay queued, decrypted bytes stay
//    buffered, and the next read continues where TLS left off;
//  - a cancelled write completes later: its bytes_written counts the plaintext already sealed
//    into records, and those records go out first at the next write or shutdown (the rest of
//    the data was not taken: write it again);
//  - a cancelled handshake keeps its state: do_handshake() again resumes it (or close).
// Errors: SslError for TLS failures and for any failure before the handshake completed;
// afterwards, transport failures are the usual ConnectionResetError / BrokenPipeError.
#pragma once

#include <atomic>
#include <cstddef>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "curio/core/task.hpp"
#include "curio/io/socket.hpp"
#include "curio/io/stream.hpp"
#include "curio/tls/ssl_context.hpp"
#include "curio/tls/ssl_error.hpp"

struct ssl_st;  // OpenSSL's SSL (native_handle())

namespace curio {

class SslStream {
 public:
  static constexpr std::size_t kDefaultMaxLine = Stream::kDefaultMaxLine;

  // Wraps a connected socket (owned: closed with the stream). The role (client or server) is
  // the context's. A client's server_hostname is sent as SNI (unless it is an IP address) and,
  // if the context checks host names, must match the certificate: std::invalid_argument if the
  // context checks names and server_hostname is empty.
  SslStream(Socket socket, const SslContext& context, std::string server_hostname = {});
  SslStream(SslStream&&) noexcept;
  SslStream& operator=(SslStream&&) noexcept;
  SslStream(const SslStream&) = delete;
  SslStream& operator=(const SslStream&) = delete;
  ~SslStream();

  // Clients: the ALPN protocols to offer on this connection instead of the context's (before
  // the handshake).
  void set_alpn_protocols(const std::vector<std::string>& protocols);

  // Runs the handshake (a read or write does it implicitly otherwise). SslError on failure.
  Task<> do_handshake();
  bool handshake_done() const noexcept;

  // Same meaning as the Stream operations of curio/io/stream.hpp. End of stream is the peer's
  // close_notify; a peer that closes the connection without one makes the read raise SslError
  // ("unexpected eof while reading"), since the data may have been truncated.
  Task<std::string> read(std::size_t maxsize = 65536);
  Task<std::string> read_exactly(std::size_t n);
  Task<std::string> readline(std::size_t maxlen = kDefaultMaxLine);
  Task<std::vector<std::string>> readlines(std::size_t maxlen = kDefaultMaxLine);
  Task<std::string> readall();
  Task<std::optional<std::string>> next_line(std::size_t maxlen = kDefaultMaxLine);
  Task<> write(std::string_view data);
  Task<> writelines(std::vector<std::string_view> lines);
  Task<> writelines(std::initializer_list<std::string_view> lines) {
    return writelines(std::vector<std::string_view>(lines));
  }

  // Sends close_notify (after any records still queued) and waits until it is handed to the
  // socket. It does not wait for the peer's close_notify: read until "" for that. Writing
  // afterwards is an SslError. Does nothing before the handshake completed.
  Task<> shutdown();
  // Closes the socket at once (no close_notify; the destructor does the same).
  void close() noexcept;

  // Negotiated parameters (empty strings before the handshake or when absent).
  std::string alpn_protocol() const;  // "h2", or "" if none was agreed
  std::string cipher() const;         // "TLS_AES_128_GCM_SHA256"
  std::string version() const;        // "TLSv1.3"
  std::string peer_subject() const;   // RFC 2253 ("CN=localhost,O=Example"), "" if no certificate
  std::string server_name() const;    // SNI: what the client asked for (either side)

  std::size_t buffered() const noexcept;  // decrypted bytes not yet returned
  bool at_eof() const noexcept;
  Socket& socket() noexcept;
  ssl_st* native_handle() const noexcept;

  // SslStream objects alive in this process (each owns one OpenSSL SSL object): for leak checks.
  static long live_count() noexcept { return live_.load(std::memory_order_relaxed); }

  struct Core;

 private:
  std::unique_ptr<Core> core_;
  static std::atomic<long> live_;
};

}  // namespace curio
