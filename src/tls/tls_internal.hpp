// src/tls/tls_internal.hpp: what the TLS sources share: the context's state and the builders
// of SslError from OpenSSL's error queue.
#pragma once

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "curio/tls/ssl_context.hpp"
#include "curio/tls/ssl_error.hpp"

namespace curio {

struct SslContext::Impl {
  SSL_CTX* ctx = nullptr;
  bool server = false;
  bool check_hostname = false;
  VerifyMode verify = VerifyMode::None;
  std::vector<unsigned char> alpn_wire;   // ALPN list in wire format (length-prefixed names)
  std::map<std::string, SslContext> sni;  // lower-case name -> context
  std::function<std::optional<SslContext>(std::string_view)> sni_callback;

  Impl() = default;
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;
  ~Impl() { SSL_CTX_free(ctx); }
};

namespace tls_detail {

// The first error on this thread's OpenSSL queue (clears the queue): its reason and code.
SslError::Details take_openssl_error(std::string fallback_reason);
// "curio: <what>: <reason>" (with the verification error if there is one).
SslError make_error(const std::string& what, SslError::Details details);
// Throws the queue's error for a failed configuration call.
[[noreturn]] void throw_config_error(const std::string& what);

std::vector<unsigned char> alpn_wire(const std::vector<std::string>& protocols);

}  // namespace tls_detail
}  // namespace curio
