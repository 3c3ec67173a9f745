// curio/tls/ssl_context.hpp: SslContext, the shared TLS configuration of clients or servers
// (Python's ssl.SSLContext): certificate chain and key, trusted CAs, peer and host name
// verification, mTLS, protocol versions, cipher suites, ALPN and per-name contexts (SNI).
//
//   auto client = curio::SslContext::client();            // verifies the server and its name
//   client.load_verify_locations("ca.pem");               // (or the system's CAs by default)
//   auto server = curio::SslContext::server();
//   server.load_cert_chain("cert.pem", "key.pem");
//
// A context is a cheap, shared handle: copies refer to the same configuration, and streams keep
// it alive. Configure it before the first connection uses it. Configuration errors are SslError
// naming the file and OpenSSL's reason.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "curio/tls/ssl_error.hpp"

struct ssl_ctx_st;  // OpenSSL's SSL_CTX (native_handle())

namespace curio {

enum class TlsVersion { v1_2, v1_3 };

// How a side checks its peer's certificate. Clients: Required by default (None disables
// verification, for tests only). Servers: None by default; Optional asks for a client
// certificate and verifies it if sent; Required refuses clients without a valid one (mTLS).
enum class VerifyMode { None, Optional, Required };

class SslContext {
 public:
  // A client context: TLS 1.2 or later, verifies the server's certificate against the
  // system's CAs (its hashed CA directory, searched per verification; load_verify_locations
  // adds more) and its host name.
  static SslContext client();
  // A server context: TLS 1.2 or later, no client certificate asked. Needs load_cert_chain.
  static SslContext server();

  bool is_server() const noexcept;

  // The certificate chain (leaf first) and its private key, from PEM files or PEM text.
  // SslError if a file cannot be read, is not PEM, or the key does not match the certificate.
  SslContext& load_cert_chain(const std::string& certfile, const std::string& keyfile);
  SslContext& load_cert_chain_pem(std::string_view cert_pem, std::string_view key_pem);
  // Trusted CAs: a PEM file (cafile), a hashed directory (capath, see `openssl rehash`), PEM text,
  // or the system's default locations.
  SslContext& load_verify_locations(const std::string& cafile, const std::string& capath = {});
  SslContext& load_verify_pem(std::string_view ca_pem);
  // OpenSSL's default CA file and directory (the file is parsed at once).
  SslContext& load_default_verify_paths();

  SslContext& set_verify_mode(VerifyMode mode);
  VerifyMode verify_mode() const noexcept;
  // Clients: check that the certificate names server_hostname (on by default).
  SslContext& set_check_hostname(bool on);
  bool check_hostname() const noexcept;

  SslContext& set_minimum_version(TlsVersion v);  // TLS 1.2 by default
  SslContext& set_maximum_version(TlsVersion v);  // the newest OpenSSL knows by default
  // OpenSSL cipher strings: TLS 1.3 suites ("TLS_AES_128_GCM_SHA256") and TLS 1.2 ciphers.
  SslContext& set_ciphersuites(const std::string& tls13_suites);
  SslContext& set_ciphers(const std::string& tls12_ciphers);

  // ALPN, in order of preference ({"h2", "http/1.1"}). Clients offer them; servers pick their
  // most preferred one that the client offers (none if there is no overlap: the handshake goes
  // on without ALPN, as Python does).
  SslContext& set_alpn_protocols(const std::vector<std::string>& protocols);

  // SNI for servers: a client asking for `name` gets `context` (its certificate, CAs and
  // verification) instead of this one. Names are matched exactly, case-insensitively.
  SslContext& add_sni_context(const std::string& name, SslContext context);
  // The general form: called with the requested name during the handshake; returns the context
  // to use, or nullopt to keep this one. An exception aborts that handshake.
  SslContext& set_sni_callback(std::function<std::optional<SslContext>(std::string_view name)> callback);

  ssl_ctx_st* native_handle() const noexcept;

  struct Impl;
  const std::shared_ptr<Impl>& impl() const noexcept { return impl_; }

 private:
  explicit SslContext(std::shared_ptr<Impl> impl) noexcept : impl_(std::move(impl)) {}
  std::shared_ptr<Impl> impl_;
};

// Python's ssl.create_default_context(): SslContext::client().
inline SslContext create_default_context() { return SslContext::client(); }

}  // namespace curio
