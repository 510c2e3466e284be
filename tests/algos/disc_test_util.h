// Shared by the discriminator tests: small configurations and window batches.
#pragma once

#include <cmath>
#include <string>
#include <vector>

#include "algos/discriminator.h"
#include "engine/rng.h"
#include "engine/tensor.h"

namespace relmimic::testing {

// 16x16 frames, k = 2: 8 -> 4 -> 4 -> 2 -> 1 after the five convs; few channels.
inline algos::DiscriminatorConfig tiny_disc(bool relational, int max_batch = 3, uint64_t seed = 3) {
  algos::DiscriminatorConfig c;
  c.relational = relational;
  c.frames = 2;
  c.height = c.width = 16;
  c.channels = {2, 3, 3, 4, 4};
  c.embed = {2, 2};
  c.max_batch = max_batch;
  c.seed = seed;
  return c;
}

inline Tensor random_windows(int batch, const algos::DiscriminatorConfig& c, Rng& rng) {
  Tensor t = Tensor::zeros({batch, c.frames, c.height, c.width}, DType::u8);
  for (long i = 0; i < t.numel(); ++i) t.data<uint8_t>()[i] = uint8_t(rng.below(256));
  return t;
}

// Copies of the flat parameter, gradient and buffer vectors.
template <class T>
std::vector<T> values_of(algos::Discriminator<T>& d) {
  ParamSet<T>& ps = d.parameters();
  return std::vector<T>(ps.values(), ps.values() + ps.size());
}
template <class T>
std::vector<T> grads_of(algos::Discriminator<T>& d) {
  ParamSet<T>& ps = d.parameters();
  return std::vector<T>(ps.grads(), ps.grads() + ps.size());
}
template <class T>
std::vector<T> buffers_of(algos::Discriminator<T>& d) {
  ParamSet<T>& bs = d.net().buffers();
  return std::vector<T>(bs.values(), bs.values() + bs.size());
}

// Random biases put the net at a generic point (with zero biases and spectrally normalised
// weights D sits close to 1/2 for every input).
template <class T>
void spread_biases(algos::Discriminator<T>& d, Rng& rng, double scale = 0.3) {
  ParamSet<T>& ps = d.parameters();
  for (const auto& e : ps.entries())
    if (e.name.find(".bias") != std::string::npos)
      for (long i = 0; i < e.size; ++i) ps.values()[e.offset + i] = T(rng.uniform(-scale, scale));
}

inline double sigmoid(double x) {
  return 1.0 / (1.0 + std::exp(-x));
}

}  // namespace relmimic::testing
