// src/tls/ssl_stream.cpp: SslStream. OpenSSL reads and writes through a BIO of our own whose
// buffers are two strings of the stream (received ciphertext in, ciphertext to send out); the
// stream moves them with Socket::recv_into and Socket::send. Since an SSL call never suspends,
// the SSL object is only touched between suspension points, and every suspension (waiting for
// the socket) leaves the buffers consistent: that is what makes cancellation lose nothing.
#include "curio/tls/ssl_stream.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <exception>
#include <stdexcept>

#include "curio/core/errors.hpp"
#include "curio/io/detail/fd_handle.hpp"
#include "io/buffered_reads.hpp"
#include "tls/tls_internal.hpp"

namespace curio {

std::atomic<long> SslStream::live_{0};

struct SslStream::Core {
  Socket socket;
  std::shared_ptr<SslContext::Impl> context;      // keeps the SSL_CTX and its callbacks alive
  std::shared_ptr<SslContext::Impl> sni_context;  // the context SNI switched to, if any
  SSL* ssl = nullptr;

  std::string in;  // received ciphertext not yet consumed by OpenSSL
  std::size_t in_pos = 0;
  bool transport_eof = false;  // the socket reached end of stream
  std::string out;             // ciphertext sealed by OpenSSL, not yet sent
  std::size_t out_pos = 0;
  bool flushing = false;  // a task is sending `out` (a second one leaves it to the first)

  detail::ReadBuffer rbuf;           // decrypted bytes not yet returned; eof: close_notify received
  std::exception_ptr pending_error;  // an error met after data that was returned first

  ~Core() { SSL_free(ssl); }

  std::size_t in_avail() const noexcept { return in.size() - in_pos; }
  std::size_t out_pending() const noexcept { return out.size() - out_pos; }
  std::size_t buffered() const noexcept { return rbuf.buffered(); }
  detail::ReadBuffer& read_buffer() noexcept { return rbuf; }  // for BufferedReads
  bool handshake_done() const noexcept { return SSL_is_init_finished(ssl); }

  SslError error(const char* op, int ssl_error);
  [[noreturn]] void throw_transport(const char* op, const SystemError& e);
  Task<std::size_t> recv_more();
  Task<> flush();
  Task<> handshake();
  Task<std::size_t> fill();
};

namespace {

// --- the BIO between OpenSSL and the stream's buffers ---

int bio_write(BIO* b, const char* data, int len) {
  auto* c = static_cast<SslStream::Core*>(BIO_get_data(b));
  BIO_clear_retry_flags(b);
  c->out.append(data, static_cast<std::size_t>(len));
  return len;
}

int bio_read(BIO* b, char* data, int len) {
  auto* c = static_cast<SslStream::Core*>(BIO_get_data(b));
  BIO_clear_retry_flags(b);
  std::size_t avail = c->in_avail();
  if (avail == 0) {
    if (c->transport_eof) return 0;  // OpenSSL reports end of stream (or a truncation)
    BIO_set_retry_read(b);
    return -1;
  }
  std::size_t n = std::min(avail, static_cast<std::size_t>(len));
  std::memcpy(data, c->in.data() + c->in_pos, n);
  c->in_pos += n;
  if (c->in_pos == c->in.size()) {
    c->in_pos = 0;
    if (c->in.capacity() > 32768) {
      std::string().swap(c->in);  // an idle connection pins no big buffer
    } else {
      c->in.clear();
    }
  }
  return static_cast<int>(n);
}

long bio_ctrl(BIO* b, int cmd, long, void*) {
  auto* c = static_cast<SslStream::Core*>(BIO_get_data(b));
  switch (cmd) {
    case BIO_CTRL_FLUSH:
      return 1;  // the stream sends `out` itself
    case BIO_CTRL_PENDING:
      return c ? static_cast<long>(c->in_avail()) : 0;
    case BIO_CTRL_WPENDING:
      return c ? static_cast<long>(c->out_pending()) : 0;
    case BIO_CTRL_EOF:
      return c && c->transport_eof && c->in_avail() == 0;
    default:
      return 0;
  }
}

int bio_create(BIO* b) {
  BIO_set_init(b, 1);
  return 1;
}

int bio_destroy(BIO*) { return 1; }

BIO_METHOD* stream_bio_method() {
  static BIO_METHOD* method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "curio stream");
    if (!m || BIO_meth_set_write(m, bio_write) != 1 || BIO_meth_set_read(m, bio_read) != 1 ||
        BIO_meth_set_ctrl(m, bio_ctrl) != 1 || BIO_meth_set_create(m, bio_create) != 1 ||
        BIO_meth_set_destroy(m, bio_destroy) != 1)
      throw std::bad_alloc();
    return m;
  }();
  return method;
}

// Plaintext lands here first (no SSL call suspends, so one per thread is enough).
std::span<char> plain_scratch() noexcept {
  thread_local std::array<char, 16384> buffer;
  return buffer;
}

bool is_ip_address(const std::string& host) {
  ASN1_OCTET_STRING* ip = a2i_IPADDRESS(host.c_str());
  if (!ip) {
    ERR_clear_error();
    return false;
  }
  ASN1_OCTET_STRING_free(ip);
  return true;
}

int ex_index() {
  static int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

// Clears a flag when the flushing task leaves (normally, by an error or by cancellation).
struct FlagGuard {
  bool& flag;
  ~FlagGuard() { flag = false; }
};

}  // namespace

namespace tls_detail {
void use_sni_context(SSL* ssl, const SslContext& chosen) {
  auto* core = static_cast<SslStream::Core*>(SSL_get_ex_data(ssl, ex_index()));
  if (!core || !SSL_set_SSL_CTX(ssl, chosen.native_handle())) throw std::runtime_error("SNI switch failed");
  // SSL_set_SSL_CTX takes the certificate but not the verification mode.
  SSL_set_verify(ssl, SSL_CTX_get_verify_mode(chosen.native_handle()), nullptr);
  core->sni_context = chosen.impl();
}
}  // namespace tls_detail

// --- errors ---

SslError SslStream::Core::error(const char* op, int ssl_error) {
  std::string what = std::string("TLS ") + (handshake_done() ? op : "handshake") + " failed";
  SslError::Details d;
  if (ssl_error == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
    d.reason = transport_eof ? "unexpected eof while reading" : "system error";
    d.error_number = transport_eof ? 0 : errno;
    ERR_clear_error();
  } else {
    d = tls_detail::take_openssl_error("error " + std::to_string(ssl_error));
  }
  long verify = SSL_get_verify_result(ssl);
  if (verify != X509_V_OK) {
    d.verify_result = verify;
    d.verify_error = X509_verify_cert_error_string(verify);
  }
  if (d.reason == "unexpected eof while reading") what += " (the peer closed the connection without close_notify)";
  return tls_detail::make_error(what, std::move(d));
}

// Before the handshake completed, a transport failure is a failed handshake.
void SslStream::Core::throw_transport(const char* op, const SystemError& e) {
  if (handshake_done()) throw;
  SslError::Details d;
  d.reason = std::strerror(e.error_number());
  d.error_number = e.error_number();
  (void)op;
  throw tls_detail::make_error("TLS handshake failed", std::move(d));
}

// --- moving ciphertext ---

Task<std::size_t> SslStream::Core::recv_more() {
  std::span<char> scratch = detail::read_scratch();
  std::size_t n;
  try {
    n = co_await socket.recv_into(std::as_writable_bytes(scratch));
  } catch (const SystemError& e) {
    throw_transport("read", e);
  }
  if (n == 0) {
    transport_eof = true;
  } else {
    in.append(scratch.data(), n);  // before any other task can use the scratch buffer
  }
  co_return n;
}

Task<> SslStream::Core::flush() {
  if (flushing) co_return;  // the task already sending sends what was added, too
  flushing = true;
  FlagGuard guard{flushing};
  try {
    while (out_pending() > 0) out_pos += co_await socket.send(std::string_view(out).substr(out_pos));
  } catch (const SystemError& e) {
    throw_transport("write", e);
  }
  out_pos = 0;
  if (out.capacity() > 32768) {
    std::string().swap(out);
  } else {
    out.clear();
  }
}

Task<> SslStream::Core::handshake() {
  for (;;) {
    ERR_clear_error();
    int r = SSL_do_handshake(ssl);
    if (r == 1) {
      co_await flush();
      co_return;
    }
    int err = SSL_get_error(ssl, r);
    if (err == SSL_ERROR_WANT_READ) {
      co_await flush();
      co_await recv_more();
      continue;
    }
    if (err == SSL_ERROR_WANT_WRITE) {
      co_await flush();
      continue;
    }
    SslError failure = error("handshake", err);
    // Let the peer see our alert (unknown CA, protocol version...) if the socket takes it.
    try {
      co_await flush();
    } catch (const std::exception&) {
    }
    throw failure;
  }
}

Task<std::size_t> SslStream::Core::fill() {
  if (pending_error) std::rethrow_exception(std::exchange(pending_error, nullptr));
  if (rbuf.eof()) co_return 0;  // nothing follows close_notify: never wait on the socket for more
  std::span<char> plain = plain_scratch();
  // With nothing to decrypt, wait for the socket before asking OpenSSL: an SSL_read that finds
  // no data keeps a 17 KB record buffer allocated for as long as the connection stays idle.
  if (handshake_done() && in_avail() == 0 && !transport_eof && !SSL_has_pending(ssl)) co_await recv_more();
  for (;;) {
    ERR_clear_error();
    int r = SSL_read(ssl, plain.data(), static_cast<int>(plain.size()));
    if (r > 0) {
      std::size_t total = static_cast<std::size_t>(r);
      rbuf.append(plain.data(), total);
      // Decrypt whatever else already arrived, without waiting; an error there is raised by
      // the next fill, after this data was returned.
      while (SSL_pending(ssl) > 0 || in_avail() > 0) {
        ERR_clear_error();
        r = SSL_read(ssl, plain.data(), static_cast<int>(plain.size()));
        if (r > 0) {
          rbuf.append(plain.data(), static_cast<std::size_t>(r));
          total += static_cast<std::size_t>(r);
          continue;
        }
        int err = SSL_get_error(ssl, r);
        if (err == SSL_ERROR_ZERO_RETURN) {
          rbuf.set_eof();
        } else if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
          pending_error = std::make_exception_ptr(error("read", err));
        }
        break;
      }
      // Reading may have produced records to send (a key update, or the handshake's end).
      if (out_pending() > 0) co_await flush();
      co_return total;
    }
    int err = SSL_get_error(ssl, r);
    if (err == SSL_ERROR_ZERO_RETURN) {
      rbuf.set_eof();
      if (out_pending() > 0) co_await flush();
      co_return 0;
    }
    if (err == SSL_ERROR_WANT_READ) {
      if (out_pending() > 0) co_await flush();
      co_await recv_more();
      continue;
    }
    if (err == SSL_ERROR_WANT_WRITE) {
      co_await flush();
      continue;
    }
    SslError failure = error("read", err);
    try {
      co_await flush();
    } catch (const std::exception&) {
    }
    throw failure;
  }
}

// --- SslStream ---

SslStream::SslStream(Socket socket, const SslContext& context, std::string server_hostname)
    : core_(std::make_unique<Core>()) {
  if (!socket) throw std::invalid_argument("curio: SslStream needs a connected socket");
  Core& c = *core_;
  const auto& impl = context.impl();
  if (!impl->server && impl->check_hostname && impl->verify != VerifyMode::None && server_hostname.empty())
    throw std::invalid_argument(
        "curio: the TLS context checks host names: give server_hostname (or set_check_hostname(false))");
  c.socket = std::move(socket);
  c.context = impl;
  ERR_clear_error();
  c.ssl = SSL_new(impl->ctx);
  if (!c.ssl) tls_detail::throw_config_error("cannot create a TLS connection");
  SSL_set_ex_data(c.ssl, ex_index(), &c);
  BIO* bio = BIO_new(stream_bio_method());
  if (!bio) tls_detail::throw_config_error("cannot create a TLS connection");
  BIO_set_data(bio, &c);
  SSL_set_bio(c.ssl, bio, bio);  // one BIO for both directions: takes its one reference
  if (impl->server) {
    SSL_set_accept_state(c.ssl);
  } else {
    SSL_set_connect_state(c.ssl);
    if (!server_hostname.empty()) {
      bool ip = is_ip_address(server_hostname);
      // SNI carries host names only (RFC 6066), never addresses.
      if (!ip && SSL_set_tlsext_host_name(c.ssl, server_hostname.c_str()) != 1)
        tls_detail::throw_config_error("invalid server_hostname '" + server_hostname + "'");
      if (impl->check_hostname && impl->verify != VerifyMode::None) {
        X509_VERIFY_PARAM* param = SSL_get0_param(c.ssl);
        int ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(param, server_hostname.c_str())
                    : X509_VERIFY_PARAM_set1_host(param, server_hostname.c_str(), 0);
        if (ok != 1) tls_detail::throw_config_error("invalid server_hostname '" + server_hostname + "'");
      }
    }
  }
  live_.fetch_add(1, std::memory_order_relaxed);
}

SslStream::SslStream(SslStream&&) noexcept = default;
SslStream& SslStream::operator=(SslStream&& o) noexcept {
  if (this != &o) {
    if (core_) live_.fetch_sub(1, std::memory_order_relaxed);
    core_ = std::move(o.core_);
  }
  return *this;
}

SslStream::~SslStream() {
  if (core_) live_.fetch_sub(1, std::memory_order_relaxed);
}

void SslStream::set_alpn_protocols(const std::vector<std::string>& protocols) {
  std::vector<unsigned char> wire = tls_detail::alpn_wire(protocols);
  if (core_->context->server) throw std::invalid_argument("curio: set_alpn_protocols on a stream is for clients");
  if (SSL_set_alpn_protos(core_->ssl, wire.data(), static_cast<unsigned>(wire.size())) != 0)
    tls_detail::throw_config_error("cannot set the ALPN protocols");
}

Task<> SslStream::do_handshake() {
  if (!core_->handshake_done()) co_await core_->handshake();
}

bool SslStream::handshake_done() const noexcept { return core_->handshake_done(); }

// The reads are BufferedReads over the decrypted bytes (src/io/buffered_reads.hpp), the same
// template as Stream's: Core::fill() decrypts more.
using Reads = detail::BufferedReads<SslStream::Core>;
Task<std::string> SslStream::read(std::size_t maxsize) { return Reads::read(*core_, maxsize); }
Task<std::string> SslStream::read_exactly(std::size_t n) { return Reads::read_exactly(*core_, n); }
Task<std::string> SslStream::readline(std::size_t maxlen) { return Reads::readline(*core_, maxlen); }
Task<std::optional<std::string>> SslStream::next_line(std::size_t maxlen) { return Reads::next_line(*core_, maxlen); }
Task<std::vector<std::string>> SslStream::readlines(std::size_t maxlen) { return Reads::readlines(*core_, maxlen); }
Task<std::string> SslStream::readall() { return Reads::readall(*core_); }

Task<> SslStream::write(std::string_view data) {
  Core& c = *core_;
  // Records are sealed one at a time (16 KiB, the TLS maximum) and sent once 64 KiB are
  // queued, so a cancelled write leaves at most that much queued for later.
  constexpr std::size_t kRecord = 16384;
  constexpr std::size_t kQueued = 65536;
  std::size_t written = 0;
  try {
    if (c.out_pending() > 0) co_await c.flush();  // what a cancelled write left goes first
    while (written < data.size()) {
      int chunk = static_cast<int>(std::min(kRecord, data.size() - written));
      ERR_clear_error();
      int r = SSL_write(c.ssl, data.data() + written, chunk);
      if (r > 0) {
        written += static_cast<std::size_t>(r);
        if (c.out_pending() >= kQueued) co_await c.flush();
        continue;
      }
      int err = SSL_get_error(c.ssl, r);
      if (err == SSL_ERROR_WANT_READ) {  // the handshake, done implicitly
        co_await c.flush();
        co_await c.recv_more();
        continue;
      }
      if (err == SSL_ERROR_WANT_WRITE) {
        co_await c.flush();
        continue;
      }
      throw c.error("write", err);
    }
    co_await c.flush();
  } catch (CancelledError& e) {
    e.bytes_written = written;
    throw;
  }
}

Task<> SslStream::writelines(std::vector<std::string_view> lines) {
  return detail::write_lines(*this, std::move(lines));
}

Task<> SslStream::shutdown() {
  Core& c = *core_;
  if (!c.handshake_done()) co_return;
  if (!(SSL_get_shutdown(c.ssl) & SSL_SENT_SHUTDOWN)) {
    ERR_clear_error();
    int r = SSL_shutdown(c.ssl);  // 0: sent, the peer's not yet received; 1: both done
    if (r < 0) {
      int err = SSL_get_error(c.ssl, r);
      if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) throw c.error("shutdown", err);
    }
    ERR_clear_error();
  }
  co_await c.flush();
}

void SslStream::close() noexcept { core_->socket.close(); }

std::string SslStream::alpn_protocol() const {
  const unsigned char* p = nullptr;
  unsigned len = 0;
  SSL_get0_alpn_selected(core_->ssl, &p, &len);
  return p ? std::string(reinterpret_cast<const char*>(p), len) : std::string();
}

std::string SslStream::cipher() const {
  const SSL_CIPHER* c = SSL_get_current_cipher(core_->ssl);
  return c ? SSL_CIPHER_standard_name(c) : "";
}

std::string SslStream::version() const { return handshake_done() ? SSL_get_version(core_->ssl) : ""; }

std::string SslStream::peer_subject() const {
  X509* cert = SSL_get0_peer_certificate(core_->ssl);
  if (!cert) return {};
  BIO* mem = BIO_new(BIO_s_mem());
  if (!mem) return {};
  X509_NAME_print_ex(mem, X509_get_subject_name(cert), 0, XN_FLAG_RFC2253);
  char* data = nullptr;
  long len = BIO_get_mem_data(mem, &data);
  std::string out(data, static_cast<std::size_t>(len > 0 ? len : 0));
  BIO_free(mem);
  return out;
}

std::string SslStream::server_name() const {
  const char* name = SSL_get_servername(core_->ssl, TLSEXT_NAMETYPE_host_name);
  return name ? name : "";
}

std::size_t SslStream::buffered() const noexcept { return core_->buffered(); }
bool SslStream::at_eof() const noexcept { return core_->rbuf.eof() && core_->buffered() == 0; }
Socket& SslStream::socket() noexcept { return core_->socket; }
ssl_st* SslStream::native_handle() const noexcept { return core_->ssl; }

}  // namespace curio
