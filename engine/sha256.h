// SHA-256 (FIPS 180-4): identifies the expert checkpoint a demonstration file was recorded from.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace relmimic {

class Sha256 {
 public:
  Sha256();
  void update(const void* data, size_t n);
  // The 32-byte digest; the object is finished afterwards (update/digest again throw).
  std::array<uint8_t, 32> digest();
  // The digest as 64 lowercase hex characters.
  std::string hex_digest();

 private:
  void block(const uint8_t* p);  // one 64-byte block into the state
  std::array<uint32_t, 8> h_;
  std::array<uint8_t, 64> buf_{};
  size_t buf_len_ = 0;
  uint64_t total_ = 0;  // bytes hashed so far
  bool done_ = false;
};

std::string sha256_hex(std::string_view bytes);
// Hash of a whole file's bytes; a missing or unreadable file throws naming the path.
std::string sha256_file(const std::string& path);
// True for 64 lowercase hex characters.
bool is_sha256_hex(std::string_view s);

}  // namespace relmimic
