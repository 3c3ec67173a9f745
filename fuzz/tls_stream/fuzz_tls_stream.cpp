// libFuzzer target: arbitrary bytes as the peer's TLS records. The first byte picks our role
// (even: server, fed a client's flight; odd: client, fed a server's flight); the rest is written
// into the other end of a socketpair, which is then closed. Our SslStream runs its handshake
// and reads to the end under a timeout. Anything but SslError / SystemError / EofError /
// LineTooLong / a timeout (a crash, a sanitizer report, a leak, another exception) is a bug.
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "curio/curio.hpp"

namespace {

// A self-signed P-256 certificate for the server role, made once.
std::pair<std::string, std::string> make_identity() {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* cert = X509_new();
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert), 86400);
  X509_set_pubkey(cert, key);
  X509_NAME_add_entry_by_txt(X509_get_subject_name(cert), "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
  X509_set_issuer_name(cert, X509_get_subject_name(cert));
  X509_sign(cert, key, EVP_sha256());
  auto pem = [](auto write) {
    BIO* b = BIO_new(BIO_s_mem());
    write(b);
    char* data = nullptr;
    long n = BIO_get_mem_data(b, &data);
    std::string s(data, static_cast<std::size_t>(n));
    BIO_free(b);
    return s;
  };
  std::string c = pem([&](BIO* b) { PEM_write_bio_X509(b, cert); });
  std::string k = pem([&](BIO* b) { PEM_write_bio_PrivateKey(b, key, nullptr, nullptr, 0, nullptr, nullptr); });
  X509_free(cert);
  EVP_PKEY_free(key);
  return {c, k};
}

curio::SslContext& server_ctx() {
  static curio::SslContext ctx = [] {
    auto [cert, key] = make_identity();
    auto c = curio::SslContext::server();
    c.load_cert_chain_pem(cert, key);
    return c;
  }();
  return ctx;
}

curio::SslContext& client_ctx() {
  static curio::SslContext ctx = [] {
    auto c = curio::SslContext::client();
    c.set_verify_mode(curio::VerifyMode::None);  // reach the record layer behind the certificate
    c.set_check_hostname(false);
    return c;
  }();
  return ctx;
}

curio::Task<> exercise(curio::SslStream& stream) {
  try {
    co_await curio::timeout_after(1.0, [&]() -> curio::Task<> {
      co_await stream.do_handshake();
      co_await stream.readline(256);
      co_await stream.readall();
      co_await stream.shutdown();
    }());
  } catch (const curio::SslError&) {
  } catch (const curio::SystemError&) {
  } catch (const curio::EofError&) {
  } catch (const curio::LineTooLong&) {
  } catch (const curio::TaskTimeout&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  bool server = (data[0] & 1) == 0;
  auto [ours, peer] = curio::Socket::pair();
  // The peer's bytes, then its end of stream (what fits in the socket buffer: inputs are small).
  ::send(peer.fileno(), data + 1, size - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
  peer.shutdown(SHUT_WR);
  long live = curio::SslStream::live_count();
  {
    curio::SslStream stream(std::move(ours), server ? server_ctx() : client_ctx(), server ? "" : "localhost");
    curio::run(exercise(stream));
  }
  if (curio::SslStream::live_count() != live) std::abort();  // an SSL object leaked
  return 0;
}
