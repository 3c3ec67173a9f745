// Helpers shared by the TLS tests: a test PKI generated at test time with OpenSSL's API (a CA,
// a server certificate for localhost/127.0.0.1, an expired one, a not-yet-valid one, one for
// the wrong host, one from an unknown CA, client certificates, certificates for SNI names),
// written as PEM files in a temporary directory; and `openssl s_server` / `s_client` peers run
// as child processes on loopback.
#pragma once

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "curio/curio.hpp"
#include "io/io_test_support.hpp"

namespace curio_test {

struct KeyAndCert {
  EVP_PKEY* key = nullptr;
  X509* cert = nullptr;
};

// One certificate. Validity is [now + not_before_s, now + not_after_s]. sans: "DNS:x" / "IP:x".
inline KeyAndCert make_cert(const std::string& cn, const KeyAndCert* issuer, long not_before_s, long not_after_s,
                            const std::string& sans, bool ca) {
  KeyAndCert kc;
  kc.key = EVP_EC_gen("P-256");
  kc.cert = X509_new();
  if (!kc.key || !kc.cert) throw std::runtime_error("test PKI: out of memory");
  static long serial = 1;
  X509_set_version(kc.cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(kc.cert), ++serial);
  X509_gmtime_adj(X509_getm_notBefore(kc.cert), not_before_s);
  X509_gmtime_adj(X509_getm_notAfter(kc.cert), not_after_s);
  X509_set_pubkey(kc.cert, kc.key);
  X509_NAME* name = X509_get_subject_name(kc.cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509* issuer_cert = issuer ? issuer->cert : kc.cert;
  EVP_PKEY* issuer_key = issuer ? issuer->key : kc.key;
  X509_set_issuer_name(kc.cert, X509_get_subject_name(issuer_cert));
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer_cert, kc.cert, nullptr, nullptr, 0);
  auto add = [&](int nid, const std::string& value) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
    if (!ext) throw std::runtime_error("test PKI: bad extension " + value);
    X509_add_ext(kc.cert, ext, -1);
    X509_EXTENSION_free(ext);
  };
  add(NID_basic_constraints, ca ? "critical,CA:TRUE" : "CA:FALSE");
  if (ca) add(NID_key_usage, "critical,keyCertSign,cRLSign");
  add(NID_subject_key_identifier, "hash");
  if (!sans.empty()) add(NID_subject_alt_name, sans);
  if (X509_sign(kc.cert, issuer_key, EVP_sha256()) == 0) throw std::runtime_error("test PKI: signing failed");
  return kc;
}

inline std::string to_pem(X509* cert) {
  BIO* b = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(b, cert);
  char* data = nullptr;
  long n = BIO_get_mem_data(b, &data);
  std::string s(data, static_cast<std::size_t>(n));
  BIO_free(b);
  return s;
}

inline std::string to_pem(EVP_PKEY* key) {
  BIO* b = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(b, key, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  long n = BIO_get_mem_data(b, &data);
  std::string s(data, static_cast<std::size_t>(n));
  BIO_free(b);
  return s;
}

inline void write_file(const std::string& path, const std::string& text) {
  FILE* f = std::fopen(path.c_str(), "w");
  if (!f) throw std::runtime_error("cannot write " + path);
  std::fwrite(text.data(), 1, text.size(), f);
  std::fclose(f);
}

// The test PKI, made once per test binary. Files: NAME.pem (certificate) and NAME.key.
class Pki {
 public:
  static const Pki& get() {
    static Pki pki;
    return pki;
  }
  std::string cert(const std::string& name) const { return dir_ + "/" + name + ".pem"; }
  std::string key(const std::string& name) const { return dir_ + "/" + name + ".key"; }
  std::string ca() const { return cert("ca"); }
  std::string ca_dir() const { return dir_ + "/cadir"; }
  const std::string& dir() const { return dir_; }
  std::string pem(const std::string& name) const { return pems_.at(name); }
  std::string key_pem(const std::string& name) const { return pems_.at(name + ".key"); }

  ~Pki() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

 private:
  Pki() {
    char tmpl[] = "/tmp/curio-tls-test-XXXXXX";
    const char* p = ::mkdtemp(tmpl);
    if (!p) throw std::runtime_error("mkdtemp failed");
    dir_ = p;
    constexpr long day = 86400;
    KeyAndCert ca = make_cert("curio test CA", nullptr, -day, 30 * day, "", true);
    KeyAndCert other_ca = make_cert("someone else's CA", nullptr, -day, 30 * day, "", true);
    save("ca", ca);
    save("other-ca", other_ca);
    const std::string local = "DNS:localhost,IP:127.0.0.1";
    save("server", make_cert("localhost", &ca, -day, 30 * day, local, false));
    save("expired", make_cert("localhost", &ca, -10 * day, -day, local, false));
    save("notyet", make_cert("localhost", &ca, 5 * day, 30 * day, local, false));
    save("wronghost", make_cert("example.com", &ca, -day, 30 * day, "DNS:example.com", false));
    save("stranger", make_cert("localhost", &other_ca, -day, 30 * day, local, false));
    save("client", make_cert("test client", &ca, -day, 30 * day, "", false));
    save("stranger-client", make_cert("stranger client", &other_ca, -day, 30 * day, "", false));
    save("a.test", make_cert("a.test", &ca, -day, 30 * day, "DNS:a.test", false));
    save("b.test", make_cert("b.test", &ca, -day, 30 * day, "DNS:b.test", false));
    // A hashed CA directory (what `openssl rehash` makes): HASH.0 -> the CA certificate.
    std::filesystem::create_directory(ca_dir());
    char hash[16];
    std::snprintf(hash, sizeof hash, "%08lx", X509_subject_name_hash(ca.cert));
    write_file(ca_dir() + "/" + hash + ".0", pems_.at("ca"));
    for (KeyAndCert* kc : {&ca, &other_ca}) {
      X509_free(kc->cert);
      EVP_PKEY_free(kc->key);
    }
  }
  void save(const std::string& name, KeyAndCert kc) {
    pems_[name] = to_pem(kc.cert);
    pems_[name + ".key"] = to_pem(kc.key);
    write_file(cert(name), pems_[name]);
    write_file(key(name), pems_[name + ".key"]);
    if (name != "ca" && name != "other-ca") {
      X509_free(kc.cert);
      EVP_PKEY_free(kc.key);
    }
  }
  std::string dir_;
  std::map<std::string, std::string> pems_;
};

// Contexts over the test PKI.
inline curio::SslContext server_context(const std::string& name = "server") {
  auto ctx = curio::SslContext::server();
  ctx.load_cert_chain(Pki::get().cert(name), Pki::get().key(name));
  return ctx;
}

inline curio::SslContext client_context() {
  auto ctx = curio::SslContext::client();
  ctx.load_verify_locations(Pki::get().ca());
  return ctx;
}

// A port that was free a moment ago (for openssl s_server, which cannot report a port it
// chose when run with -quiet).
inline std::uint16_t free_port() {
  curio::Socket s = loopback_listener();
  return s.getsockname().port();
}

// True if a socket listens on 127.0.0.1:port (read from /proc/net/tcp, so that checking does
// not use up a connection of `s_server -naccept 1`).
inline bool listening_on(std::uint16_t port) {
  FILE* f = std::fopen("/proc/net/tcp", "r");
  if (!f) return false;
  char line[512];
  char want[32];
  std::snprintf(want, sizeof want, "0100007F:%04X", port);
  bool found = false;
  while (std::fgets(line, sizeof line, f)) {
    char local[64], remote[64], state[8];
    if (std::sscanf(line, " %*d: %63s %63s %7s", local, remote, state) == 3 && std::string(local) == want &&
        std::string(state) == "0A")
      found = true;
  }
  std::fclose(f);
  return found;
}

// Waits until something listens on 127.0.0.1:port (5 s at most).
inline curio::Task<> wait_for_port(std::uint16_t port) {
  for (int i = 0; i < 500; ++i) {
    if (listening_on(port)) co_return;
    co_await curio::sleep(0.01);
  }
  throw std::runtime_error("nothing listens on port " + std::to_string(port));
}

// `openssl s_server -quiet` on 127.0.0.1 with the given extra arguments; stdout carries what
// clients send (pure data, with -quiet), stdin what it sends them.
struct OpensslServer {
  std::uint16_t port = free_port();
  curio::subprocess::Popen process;

  explicit OpensslServer(std::vector<std::string> extra)
      : process(args(port, std::move(extra)), {.stdin_mode = curio::subprocess::PIPE,
                                               .stdout_mode = curio::subprocess::PIPE,
                                               .stderr_mode = curio::subprocess::DEVNULL}) {}
  static std::vector<std::string> args(std::uint16_t port, std::vector<std::string> extra) {
    std::vector<std::string> a{"openssl", "s_server", "-quiet", "-accept", "127.0.0.1:" + std::to_string(port)};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }
  curio::Task<> ready() { co_await wait_for_port(port); }
};

// `openssl s_client -quiet` to 127.0.0.1:port: stdin goes to the server, stdout is what the
// server sends (pure data), until the server closes.
struct OpensslClient {
  curio::subprocess::Popen process;
  OpensslClient(std::uint16_t port, std::vector<std::string> extra)
      : process(args(port, std::move(extra)), {.stdin_mode = curio::subprocess::PIPE,
                                               .stdout_mode = curio::subprocess::PIPE,
                                               .stderr_mode = curio::subprocess::PIPE}) {}
  static std::vector<std::string> args(std::uint16_t port, std::vector<std::string> extra) {
    std::vector<std::string> a{"openssl", "s_client", "-quiet", "-connect", "127.0.0.1:" + std::to_string(port)};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }
};

}  // namespace curio_test
