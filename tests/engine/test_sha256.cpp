#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include "engine/sha256.h"
#include "kernels/common.h"

namespace relmimic {
namespace {

TEST(Sha256, KnownVectors) {
  // FIPS 180-2 appendix B.
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(sha256_hex(std::string(1000000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256, PaddingBoundaries) {
  // Lengths around the 56-byte padding limit and the 64-byte block (coreutils sha256sum).
  const std::pair<size_t, const char*> cases[] = {
      {55, "d5e285683cd4efc02d021a5c62014694958901005d6f71e89e0989fac77e4072"},
      {56, "04c26261370ee7541549d16dee320c723e3fd14671e66a099afe0a377c16888e"},
      {63, "75220b47218278e656f2013bb8f0c455a25eaf01e86c64924e9d48d89776d6f2"},
      {64, "7ce100971f64e7001e8fe5a51973ecdfe1ced42befe7ee8d5fd6219506b5393c"},
      {65, "9537c5fdf120482f7d58d25e9ed583f52c02b4e304ea814db1633ad565aed7e9"},
      {119, "000b48d4edf0fa7bee3c6236ecd2785baa5db4eeb8bb54341b029e0d9fa5fb0c"},
      {120, "13f05a0b594787f5ecd315edc96141bd3243203d1b7d4f0836f37308b276ba98"}};
  for (const auto& [n, hex] : cases) EXPECT_EQ(sha256_hex(std::string(n, 'x')), hex) << n;
}

TEST(Sha256, IncrementalUpdatesMatchOneShot) {
  std::string msg;
  for (int i = 0; i < 1000; ++i) msg += char((i * 131 + 7) % 256);
  const std::string whole = sha256_hex(msg);
  for (size_t step : {1, 3, 63, 64, 65, 200}) {
    Sha256 h;
    for (size_t i = 0; i < msg.size(); i += step)
      h.update(msg.data() + i, std::min(step, msg.size() - i));
    EXPECT_EQ(h.hex_digest(), whole) << "chunks of " << step;
  }
  Sha256 h;
  h.hex_digest();
  EXPECT_THROW(h.update("a", 1), Error);
}

TEST(Sha256, HashesFiles) {
  const auto path = std::filesystem::temp_directory_path() / "relmimic_test_sha256.bin";
  std::string bytes(200000, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = char(i * 2654435761u >> 24);
  FILE* f = std::fopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  std::fwrite(bytes.data(), 1, bytes.size(), f);
  std::fclose(f);
  EXPECT_EQ(sha256_file(path.string()), sha256_hex(bytes));
  std::filesystem::remove(path);
  EXPECT_THROW(sha256_file(path.string()), Error);
}

TEST(Sha256, HexValidation) {
  EXPECT_TRUE(is_sha256_hex(sha256_hex("abc")));
  EXPECT_FALSE(is_sha256_hex(""));
  EXPECT_FALSE(is_sha256_hex(std::string(63, 'a')));
  EXPECT_FALSE(is_sha256_hex(std::string(64, 'A')));
  EXPECT_FALSE(is_sha256_hex(std::string(64, 'g')));
}

}  // namespace
}  // namespace relmimic
