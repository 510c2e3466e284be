// SHA-256 (FIPS 180-4, through OpenSSL's libcrypto): identifies the expert checkpoint a
// demonstration file was recorded from, and the demonstration file an imitation run trains on.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace relmimic {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(Sha256&&) noexcept;
  Sha256& operator=(Sha256&&) noexcept;
  void update(const void* data, size_t n);
  // The 32-byte digest; the object is finished afterwards (update/digest again throw).
  std::array<uint8_t, 32> digest();
  // The digest as 64 lowercase hex characters.
  std::string hex_digest();

 private:
  struct Context;  // OpenSSL's EVP_MD_CTX
  std::unique_ptr<Context> ctx_;
  bool done_ = false;
};

std::string sha256_hex(std::string_view bytes);
// Hash of a whole file's bytes; a missing or unreadable file throws naming the path.
std::string sha256_file(const std::string& path);
// True for 64 lowercase hex characters.
bool is_sha256_hex(std::string_view s);

}  // namespace relmimic
