// Shared by every kernel: the error type, the check macro and small index helpers.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <sstream>
#include <stdexcept>
#include <string>

namespace relmimic {

// Every failure in the project is a relmimic::Error; the CLI prints what() on one line.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace detail {
template <class... Args>
[[noreturn]] void fail(const char* file, int line, const char* cond, const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  std::string msg = os.str();
  if (msg.empty()) msg = std::string("check failed: ") + cond;
  std::ostringstream full;
  full << msg << " (" << file << ":" << line << ")";
  throw Error(full.str());
}
}  // namespace detail

}  // namespace relmimic

// RM_CHECK(cond, "message ", value, ...): throws relmimic::Error naming file and line.
#define RM_CHECK(cond, ...)                                                          \
  do {                                                                               \
    if (!(cond)) ::relmimic::detail::fail(__FILE__, __LINE__, #cond, ##__VA_ARGS__); \
  } while (0)

#define RM_FAIL(...) ::relmimic::detail::fail(__FILE__, __LINE__, "", ##__VA_ARGS__)

namespace relmimic::kernels {

// Entry-point argument checks shared by the CPU and CUDA kernels: every pointer non-null (the
// message gives the argument's position), counts positive.
inline void check_ptrs(const char* who, std::initializer_list<const void*> ptrs) {
  int k = 0;
  for (const void* p : ptrs) {
    RM_CHECK(p != nullptr, who, ": pointer argument ", k, " is null");
    ++k;
  }
}

inline void check_count(const char* who, const char* what, long n) {
  RM_CHECK(n > 0, who, ": ", what, " must be positive, got ", n);
}

}  // namespace relmimic::kernels
