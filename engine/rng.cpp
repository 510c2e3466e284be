#include "engine/rng.h"

#include <cmath>

namespace relmimic {

namespace {
uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
uint64_t rotl(uint64_t x, int k) {
  return (x << k) | (x >> (64 - k));
}
}  // namespace

void Rng::seed_with(uint64_t seed) {
  uint64_t x = seed;
  for (auto& w : st_.s) w = splitmix64(x);
  st_.has_cached = false;
  st_.cached_normal = 0.0;
}

uint64_t Rng::next_u64() {
  auto& s = st_.s;
  const uint64_t result = rotl(s[1] * 5, 7) * 9;
  const uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}

double Rng::uniform() {
  return double(next_u64() >> 11) * 0x1.0p-53;
}

double Rng::uniform(double lo, double hi) {
  return lo + (hi - lo) * uniform();
}

double Rng::normal() {
  if (st_.has_cached) {
    st_.has_cached = false;
    return st_.cached_normal;
  }
  // Box-Muller; u1 in (0, 1] so log is finite.
  double u1 = 1.0 - uniform(), u2 = uniform();
  double r = std::sqrt(-2.0 * std::log(u1));
  st_.cached_normal = r * std::sin(2.0 * M_PI * u2);
  st_.has_cached = true;
  return r * std::cos(2.0 * M_PI * u2);
}

uint64_t Rng::below(uint64_t n) {
  // Lemire's method without the rejection step is biased; reject to stay exact.
  uint64_t limit = ~uint64_t(0) - (~uint64_t(0) % n);
  uint64_t x;
  do x = next_u64();
  while (x >= limit);
  return x % n;
}

uint64_t Rng::derive(uint64_t seed, uint64_t stream) {
  uint64_t x = seed ^ (stream * 0xD1B54A32D192ED03ull);
  splitmix64(x);
  return splitmix64(x);
}

}  // namespace relmimic
