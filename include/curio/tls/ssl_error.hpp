// curio/tls/ssl_error.hpp: SslError, the exception of the TLS layer (Python's ssl.SSLError).
// Every TLS failure is one: a failed handshake (unknown CA, expired certificate, host name
// mismatch, protocol version mismatch, a peer that does not speak TLS, a reset or close in the
// middle of the handshake), a broken record after it, a truncated close, a bad configuration
// (a missing file, a key that does not match its certificate). what() names the OpenSSL reason.
#pragma once

#include <string>

#include "curio/core/errors.hpp"

namespace curio {

class SslError : public CurioError {
 public:
  struct Details {
    std::string reason;        // OpenSSL's reason string ("certificate verify failed"), or ours
    unsigned long code = 0;    // the OpenSSL error code (ERR_get_error), 0 if none
    long verify_result = 0;    // X509_V_OK (0) unless certificate verification failed
    std::string verify_error;  // X509_verify_cert_error_string of verify_result ("" if OK)
    int error_number = 0;      // errno when the transport failed (ECONNRESET...), else 0
  };
  SslError(const std::string& message, Details details) : CurioError(message), details_(std::move(details)) {}

  const std::string& reason() const noexcept { return details_.reason; }
  unsigned long code() const noexcept { return details_.code; }
  long verify_result() const noexcept { return details_.verify_result; }
  const std::string& verify_error() const noexcept { return details_.verify_error; }
  int error_number() const noexcept { return details_.error_number; }

 private:
  Details details_;
};

}  // namespace curio
