#pragma once
// exp(x) for x <= 0 in float, written so that a `#pragma omp simd` loop vectorises it (libm's
// expf is a scalar call per element, ~70 % of a softmax over the relational block's N x N
// scores). Cephes' method: x = n ln2 + r with |r| <= ln2 / 2, exp(r) by a degree-6 polynomial,
// 2^n through the exponent bits. Relative error below 2.5e-7 (checked in test_attention.cpp);
// inputs below -87 give exp(-87) ~ 1.6e-38 instead of a denormal or 0.
#include <cstdint>

namespace relmimic::kernels {

#pragma omp declare simd notinbranch
inline float exp_nonpositive(float x) {
  x = x < -87.0f ? -87.0f : x;
  // n = round(x / ln2) by the 1.5 * 2^23 trick (GCC 12 vectorises no floor/nearbyint without
  // -fno-trapping-math).
  const float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  // r = x - n ln2, ln2 split in two so that n * 0.693359375 is exact.
  const float r = (x - n * 0.693359375f) + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float e = p * r * r + r + 1.0f;
  // 2^n, n >= -126, through the exponent bits. A union (defined in GCC and Clang) rather than
  // std::bit_cast, which GCC 12 does not vectorise.
  union {
    std::int32_t i;
    float f;
  } pow2;
  pow2.i = (static_cast<std::int32_t>(n) + 127) << 23;
  return e * pow2.f;
}

}  // namespace relmimic::kernels
