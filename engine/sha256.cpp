#include "engine/sha256.h"

#include <openssl/err.h>
#include <openssl/evp.h>

#include <cstdio>
#include <memory>
#include <vector>

#include "kernels/common.h"

namespace relmimic {

namespace {
// The first queued OpenSSL error as text, or `fallback` when there is none.
std::string openssl_error(const char* fallback) {
  const unsigned long e = ERR_get_error();
  if (e == 0) return fallback;
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}
}  // namespace

struct Sha256::Context {
  EVP_MD_CTX* md = nullptr;
  ~Context() { EVP_MD_CTX_free(md); }
};

Sha256::Sha256() : ctx_(std::make_unique<Context>()) {
  ctx_->md = EVP_MD_CTX_new();
  RM_CHECK(ctx_->md, "SHA-256: cannot allocate a digest context: ", openssl_error("out of memory"));
  RM_CHECK(EVP_DigestInit_ex(ctx_->md, EVP_sha256(), nullptr) == 1,
           "SHA-256: cannot initialise the digest: ", openssl_error("EVP_DigestInit_ex failed"));
}

Sha256::~Sha256() = default;
Sha256::Sha256(Sha256&&) noexcept = default;
Sha256& Sha256::operator=(Sha256&&) noexcept = default;

void Sha256::update(const void* data, size_t n) {
  RM_CHECK(!done_, "Sha256::update after the digest was taken");
  RM_CHECK(EVP_DigestUpdate(ctx_->md, data, n) == 1, "SHA-256: cannot hash ", n,
           " bytes: ", openssl_error("EVP_DigestUpdate failed"));
}

std::array<uint8_t, 32> Sha256::digest() {
  RM_CHECK(!done_, "Sha256::digest taken twice");
  done_ = true;
  std::array<uint8_t, 32> out{};
  unsigned int len = 0;
  RM_CHECK(EVP_DigestFinal_ex(ctx_->md, out.data(), &len) == 1,
           "SHA-256: cannot finish the digest: ", openssl_error("EVP_DigestFinal_ex failed"));
  RM_CHECK(len == out.size(), "SHA-256: the digest has ", len, " bytes, expected 32");
  return out;
}

std::string Sha256::hex_digest() {
  static const char* kHex = "0123456789abcdef";
  std::string s;
  for (uint8_t b : digest()) {
    s += kHex[b >> 4];
    s += kHex[b & 15];
  }
  return s;
}

std::string sha256_hex(std::string_view bytes) {
  Sha256 h;
  h.update(bytes.data(), bytes.size());
  return h.hex_digest();
}

std::string sha256_file(const std::string& path) {
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "rb"), std::fclose);
  RM_CHECK(f, "cannot open '", path, "' to hash it");
  Sha256 h;
  std::vector<char> buf(1 << 16);
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), f.get())) > 0) h.update(buf.data(), n);
  RM_CHECK(!std::ferror(f.get()), "read error while hashing '", path, "'");
  return h.hex_digest();
}

bool is_sha256_hex(std::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

}  // namespace relmimic
