// Explicitly seeded random numbers (xoshiro256**, seeded through splitmix64).
// The whole state is a few words so checkpoints store it and resumed runs continue exactly.
#pragma once

#include <array>
#include <cstdint>

namespace relmimic {

class Rng {
 public:
  struct State {
    std::array<uint64_t, 4> s{};
    double cached_normal = 0.0;
    bool has_cached = false;
  };

  explicit Rng(uint64_t seed = 0) { seed_with(seed); }
  void seed_with(uint64_t seed);

  uint64_t next_u64();
  double uniform();                      // [0, 1)
  double uniform(double lo, double hi);  // [lo, hi)
  double normal();                       // N(0, 1)
  uint64_t below(uint64_t n);            // uniform integer in [0, n)

  State state() const { return st_; }
  void set_state(const State& s) { st_ = s; }

  // An independent stream derived from (seed, stream id), e.g. one per env or per rank.
  static uint64_t derive(uint64_t seed, uint64_t stream);

 private:
  State st_;
};

}  // namespace relmimic
