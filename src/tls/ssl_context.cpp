// src/tls/ssl_context.cpp: SslContext over OpenSSL's SSL_CTX, and the ALPN and SNI callbacks.
#include "curio/tls/ssl_context.hpp"

#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "curio/tls/ssl_stream.hpp"
#include "tls/tls_internal.hpp"

namespace curio {

namespace tls_detail {

SslError::Details take_openssl_error(std::string fallback_reason) {
  SslError::Details d;
  unsigned long e = ERR_get_error();
  if (e != 0) {
    d.code = e;
    const char* r = ERR_reason_error_string(e);
    if (r) {
      d.reason = r;
    } else {
      char buf[256];
      ERR_error_string_n(e, buf, sizeof buf);
      d.reason = buf;
    }
  } else {
    d.reason = std::move(fallback_reason);
  }
  ERR_clear_error();
  return d;
}

SslError make_error(const std::string& what, SslError::Details details) {
  std::string message = "curio: " + what + ": " + details.reason;
  if (!details.verify_error.empty()) message += " (" + details.verify_error + ")";
  return SslError(message, std::move(details));
}

void throw_config_error(const std::string& what) { throw make_error(what, take_openssl_error("unknown error")); }

std::vector<unsigned char> alpn_wire(const std::vector<std::string>& protocols) {
  std::vector<unsigned char> wire;
  for (const std::string& p : protocols) {
    if (p.empty() || p.size() > 255)
      throw std::invalid_argument("curio: an ALPN protocol name must have 1 to 255 bytes: '" + p + "'");
    wire.push_back(static_cast<unsigned char>(p.size()));
    wire.insert(wire.end(), p.begin(), p.end());
  }
  return wire;
}

}  // namespace tls_detail

using tls_detail::throw_config_error;

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// A readable file, or an SslError naming it and errno (OpenSSL's own message for a missing
// file is "system lib", which does not say which file).
void check_readable(const std::string& what, const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    int err = errno;
    SslError::Details d;
    d.reason = std::strerror(err);
    d.error_number = err;
    throw tls_detail::make_error(what + " '" + path + "'", std::move(d));
  }
}

int alpn_select(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in, unsigned int inlen,
                void* arg) {
  auto* impl = static_cast<SslContext::Impl*>(arg);
  if (impl->alpn_wire.empty()) return SSL_TLSEXT_ERR_NOACK;
  unsigned char* selected = nullptr;
  // Server preference: SSL_select_next_proto walks its first list and takes the first name the
  // second list also has.
  if (SSL_select_next_proto(&selected, outlen, impl->alpn_wire.data(), static_cast<unsigned>(impl->alpn_wire.size()),
                            in, inlen) != OPENSSL_NPN_NEGOTIATED)
    return SSL_TLSEXT_ERR_NOACK;
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}

}  // namespace

// Defined in ssl_stream.cpp: switches a server connection to the context chosen by SNI.
namespace tls_detail {
void use_sni_context(SSL* ssl, const SslContext& chosen);
}

namespace {

int servername(SSL* ssl, int* alert, void* arg) {
  auto* impl = static_cast<SslContext::Impl*>(arg);
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (!name) return SSL_TLSEXT_ERR_OK;
  try {
    std::optional<SslContext> chosen;
    if (auto it = impl->sni.find(lower(name)); it != impl->sni.end()) chosen = it->second;
    if (!chosen && impl->sni_callback) chosen = impl->sni_callback(name);
    if (chosen) tls_detail::use_sni_context(ssl, *chosen);
    return SSL_TLSEXT_ERR_OK;
  } catch (...) {
    *alert = SSL_AD_INTERNAL_ERROR;
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  }
}

std::shared_ptr<SslContext::Impl> make_impl(bool server) {
  auto impl = std::make_shared<SslContext::Impl>();
  impl->ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
  if (!impl->ctx) throw_config_error("cannot create a TLS context");
  impl->server = server;
  SSL_CTX_set_min_proto_version(impl->ctx, TLS1_2_VERSION);
  // Renegotiation is a TLS 1.2 feature with a history of attacks; nobody needs it.
  SSL_CTX_set_options(impl->ctx, SSL_OP_NO_RENEGOTIATION);
  // Idle connections hold no record buffers; write retries may pass a moved buffer.
  SSL_CTX_set_mode(impl->ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (server) {
    SSL_CTX_set_alpn_select_cb(impl->ctx, alpn_select, impl.get());
    SSL_CTX_set_tlsext_servername_callback(impl->ctx, servername);
    SSL_CTX_set_tlsext_servername_arg(impl->ctx, impl.get());
  }
  return impl;
}

}  // namespace

SslContext SslContext::client() {
  SslContext c(make_impl(false));
  // The system's CAs through the hashed directory only (/etc/ssl/certs on Debian, which holds
  // every CA of the bundle): looked up per verification, so making a context costs nothing,
  // where loading the bundle file parses ~140 certificates (load_default_verify_paths does).
  ERR_clear_error();
  if (SSL_CTX_set_default_verify_dir(c.impl_->ctx) != 1) throw_config_error("cannot use the system's CA directory");
  c.set_verify_mode(VerifyMode::Required);
  c.impl_->check_hostname = true;
  return c;
}

SslContext SslContext::server() { return SslContext(make_impl(true)); }

bool SslContext::is_server() const noexcept { return impl_->server; }
ssl_ctx_st* SslContext::native_handle() const noexcept { return impl_->ctx; }

SslContext& SslContext::load_cert_chain(const std::string& certfile, const std::string& keyfile) {
  check_readable("cannot load the certificate chain", certfile);
  check_readable("cannot load the private key", keyfile);
  ERR_clear_error();
  if (SSL_CTX_use_certificate_chain_file(impl_->ctx, certfile.c_str()) != 1)
    throw_config_error("cannot load the certificate chain '" + certfile + "'");
  if (SSL_CTX_use_PrivateKey_file(impl_->ctx, keyfile.c_str(), SSL_FILETYPE_PEM) != 1) {
    SslError::Details d = tls_detail::take_openssl_error("unknown error");
    if (ERR_GET_REASON(d.code) == X509_R_KEY_VALUES_MISMATCH)
      throw tls_detail::make_error(
          "the private key '" + keyfile + "' does not match the certificate '" + certfile + "'", std::move(d));
    throw tls_detail::make_error("cannot load the private key '" + keyfile + "'", std::move(d));
  }
  if (SSL_CTX_check_private_key(impl_->ctx) != 1)
    throw_config_error("the private key '" + keyfile + "' does not match the certificate '" + certfile + "'");
  return *this;
}

namespace {

struct BioFree {
  void operator()(BIO* b) const noexcept { BIO_free(b); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;

BioPtr memory_bio(std::string_view pem) {
  BioPtr b(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!b) throw_config_error("out of memory");
  return b;
}

}  // namespace

SslContext& SslContext::load_cert_chain_pem(std::string_view cert_pem, std::string_view key_pem) {
  ERR_clear_error();
  BioPtr certs = memory_bio(cert_pem);
  X509* leaf = PEM_read_bio_X509_AUX(certs.get(), nullptr, nullptr, nullptr);
  if (!leaf) throw_config_error("cannot load the certificate chain (PEM text)");
  int ok = SSL_CTX_use_certificate(impl_->ctx, leaf);
  X509_free(leaf);
  if (ok != 1) throw_config_error("cannot use the certificate (PEM text)");
  SSL_CTX_clear_chain_certs(impl_->ctx);
  while (X509* ca = PEM_read_bio_X509(certs.get(), nullptr, nullptr, nullptr)) {
    if (SSL_CTX_add0_chain_cert(impl_->ctx, ca) != 1) {
      X509_free(ca);
      throw_config_error("cannot add a chain certificate (PEM text)");
    }
  }
  ERR_clear_error();  // the end of the PEM text
  BioPtr key = memory_bio(key_pem);
  EVP_PKEY* pkey = PEM_read_bio_PrivateKey(key.get(), nullptr, nullptr, nullptr);
  if (!pkey) throw_config_error("cannot load the private key (PEM text)");
  ok = SSL_CTX_use_PrivateKey(impl_->ctx, pkey);
  EVP_PKEY_free(pkey);
  if (ok != 1) throw_config_error("cannot use the private key (PEM text)");
  if (SSL_CTX_check_private_key(impl_->ctx) != 1)
    throw_config_error("the private key does not match the certificate (PEM text)");
  return *this;
}

SslContext& SslContext::load_verify_locations(const std::string& cafile, const std::string& capath) {
  if (cafile.empty() && capath.empty())
    throw std::invalid_argument("curio: load_verify_locations needs a CA file or a CA directory");
  if (!cafile.empty()) check_readable("cannot load the CA file", cafile);
  if (!capath.empty()) check_readable("cannot load the CA directory", capath);
  ERR_clear_error();
  if (SSL_CTX_load_verify_locations(impl_->ctx, cafile.empty() ? nullptr : cafile.c_str(),
                                    capath.empty() ? nullptr : capath.c_str()) != 1)
    throw_config_error("cannot load the CAs from '" + (cafile.empty() ? capath : cafile) + "'");
  return *this;
}

SslContext& SslContext::load_verify_pem(std::string_view ca_pem) {
  ERR_clear_error();
  BioPtr b = memory_bio(ca_pem);
  X509_STORE* store = SSL_CTX_get_cert_store(impl_->ctx);
  int added = 0;
  while (X509* ca = PEM_read_bio_X509(b.get(), nullptr, nullptr, nullptr)) {
    int ok = X509_STORE_add_cert(store, ca);
    X509_free(ca);
    if (ok != 1) throw_config_error("cannot add a CA certificate (PEM text)");
    ++added;
  }
  if (added == 0) throw_config_error("no CA certificate in the PEM text");
  ERR_clear_error();
  return *this;
}

SslContext& SslContext::load_default_verify_paths() {
  ERR_clear_error();
  if (SSL_CTX_set_default_verify_paths(impl_->ctx) != 1) throw_config_error("cannot load the system's CAs");
  return *this;
}

SslContext& SslContext::set_verify_mode(VerifyMode mode) {
  int flags = SSL_VERIFY_NONE;
  if (mode == VerifyMode::Optional) flags = SSL_VERIFY_PEER;
  if (mode == VerifyMode::Required) flags = SSL_VERIFY_PEER | (impl_->server ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0);
  SSL_CTX_set_verify(impl_->ctx, flags, nullptr);
  impl_->verify = mode;
  return *this;
}

VerifyMode SslContext::verify_mode() const noexcept { return impl_->verify; }

SslContext& SslContext::set_check_hostname(bool on) {
  if (impl_->server && on) throw std::invalid_argument("curio: check_hostname is for client contexts");
  impl_->check_hostname = on;
  return *this;
}

bool SslContext::check_hostname() const noexcept { return impl_->check_hostname; }

namespace {
int version_number(TlsVersion v) { return v == TlsVersion::v1_3 ? TLS1_3_VERSION : TLS1_2_VERSION; }
}  // namespace

SslContext& SslContext::set_minimum_version(TlsVersion v) {
  if (SSL_CTX_set_min_proto_version(impl_->ctx, version_number(v)) != 1)
    throw_config_error("cannot set the minimum TLS version");
  return *this;
}

SslContext& SslContext::set_maximum_version(TlsVersion v) {
  if (SSL_CTX_set_max_proto_version(impl_->ctx, version_number(v)) != 1)
    throw_config_error("cannot set the maximum TLS version");
  return *this;
}

SslContext& SslContext::set_ciphersuites(const std::string& tls13_suites) {
  ERR_clear_error();
  if (SSL_CTX_set_ciphersuites(impl_->ctx, tls13_suites.c_str()) != 1)
    throw_config_error("invalid TLS 1.3 cipher suites '" + tls13_suites + "'");
  return *this;
}

SslContext& SslContext::set_ciphers(const std::string& tls12_ciphers) {
  ERR_clear_error();
  if (SSL_CTX_set_cipher_list(impl_->ctx, tls12_ciphers.c_str()) != 1)
    throw_config_error("invalid TLS 1.2 cipher list '" + tls12_ciphers + "'");
  return *this;
}

SslContext& SslContext::set_alpn_protocols(const std::vector<std::string>& protocols) {
  std::vector<unsigned char> wire = tls_detail::alpn_wire(protocols);
  if (!impl_->server) {
    // (SSL_CTX_set_alpn_protos returns 0 on success.)
    if (SSL_CTX_set_alpn_protos(impl_->ctx, wire.data(), static_cast<unsigned>(wire.size())) != 0)
      throw_config_error("cannot set the ALPN protocols");
  }
  impl_->alpn_wire = std::move(wire);
  return *this;
}

SslContext& SslContext::add_sni_context(const std::string& name, SslContext context) {
  if (!impl_->server || !context.is_server()) throw std::invalid_argument("curio: SNI contexts are for servers");
  impl_->sni.insert_or_assign(lower(name), std::move(context));
  return *this;
}

SslContext& SslContext::set_sni_callback(std::function<std::optional<SslContext>(std::string_view)> callback) {
  if (!impl_->server) throw std::invalid_argument("curio: an SNI callback is for server contexts");
  impl_->sni_callback = std::move(callback);
  return *this;
}

}  // namespace curio
