// src/core/errors.cpp: describing exceptions for crash reports and TaskError messages.
#include "curio/core/errors.hpp"

#include <cxxabi.h>

#include <cstdlib>
#include <memory>
#include <typeinfo>

namespace curio {

namespace {
std::string type_name(const std::type_info& ti) {
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> name(abi::__cxa_demangle(ti.name(), nullptr, nullptr, &status), std::free);
  return status == 0 && name ? std::string(name.get()) : std::string(ti.name());
}
}  // namespace

std::string describe_exception(const std::exception_ptr& e) {
  if (!e) return "no exception";
  try {
    std::rethrow_exception(e);
  } catch (const CancelledError& c) {
    return type_name(typeid(c)) + ": " + c.what();
  } catch (const std::exception& x) {
    return type_name(typeid(x)) + ": " + x.what();
  } catch (...) {
    const std::type_info* ti = abi::__cxa_current_exception_type();
    return ti ? type_name(*ti) : std::string("unknown exception");
  }
}

bool is_cancellation(const std::exception_ptr& e) noexcept {
  if (!e) return false;
  try {
    std::rethrow_exception(e);
  } catch (const CancelledError&) {
    return true;
  } catch (...) {
    return false;
  }
}

bool is_connection_error(const std::exception_ptr& e) noexcept {
  if (!e) return false;
  try {
    std::rethrow_exception(e);
  } catch (const ConnectionError&) {
    return true;
  } catch (...) {
    return false;
  }
}

}  // namespace curio
