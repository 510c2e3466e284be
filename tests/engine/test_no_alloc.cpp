// Steady-state forward/backward (and the gradient penalty) allocate nothing on the heap: every
// buffer comes from the network's arena, sized at construction. Counted by replacing the
// global operator new for this test program (counting only while a test asks for it). With
// oneDNN's convolutions (builds with oneDNN) the library allocates its small per-call argument
// bookkeeping; every buffer is still held between calls: no allocation exceeds that.
#include <gtest/gtest.h>

#include "engine/networks.h"
#include "tests/alloc_counter.h"

namespace relmimic {
namespace {

using testing::expect_no_buffers_allocated;

Tensor frames(int b, int k, int h, int w) {
  Tensor t = Tensor::zeros({b, k, h, w}, DType::u8);
  Rng rng(3);
  for (long i = 0; i < t.numel(); ++i) t.data<uint8_t>()[i] = uint8_t(rng.below(256));
  return t;
}

TEST(NoAllocation, AgentForwardBackward) {
  for (Arch a : {Arch::nature, Arch::impala, Arch::local, Arch::nonlocal}) {
    AgentConfig c;
    c.arch = a;
    c.actions = 2;
    c.max_batch = 2;
    AgentNet<float> net(c);
    Tensor obs = frames(2, 4, 84, 84);
    Tensor dmean = Tensor::zeros({2, 2}, DType::f32);
    const float dls[2] = {0.5f, -0.5f};
    expect_no_buffers_allocated(
        [&] {
          net.forward(obs);
          net.backward(dmean, dls);
        },
        arch_name(a));
  }
}

TEST(NoAllocation, RewardForwardBackwardAndPenalty) {
  RewardConfig c;
  c.max_batch = 2;
  RewardNet<float> net(c);
  Tensor obs = frames(2, 4, 84, 84);
  Tensor dlogit = Tensor::zeros({2, 1}, DType::f32);
  expect_no_buffers_allocated(
      [&] {
        net.forward(obs);
        net.backward(dlogit);
      },
      "reward forward + backward");
  Tensor x = Tensor::zeros({2, 4, 84, 84}, DType::f32);
  for (long i = 0; i < x.numel(); ++i) x.data<float>()[i] = float(obs.data<uint8_t>()[i]) / 255;
  expect_no_buffers_allocated([&] { net.gradient_penalty(x, 10.0, true); }, "gradient penalty");
}

}  // namespace
}  // namespace relmimic
