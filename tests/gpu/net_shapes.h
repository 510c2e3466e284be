// The conv, pool, linear and LayerNorm shapes of SPEC.md's networks (k = 4 frames, 84 x 84),
// per sample: the CUDA parity tests and bench/bench_cuda_conv.cpp run exactly these.
#pragma once

#include <vector>

#include "kernels/conv2d.h"
#include "kernels/pool3d.h"

namespace relmimic::testing {

struct NetConv {
  const char* name;
  kernels::Conv2dDims d;  // batch left at 1
};

inline kernels::Conv2dDims conv(int in_c, int hw, int out_c, int k, int stride, int pad) {
  kernels::Conv2dDims d;
  d.in_c = in_c, d.in_h = hw, d.in_w = hw, d.out_c = out_c;
  d.kh = k, d.kw = k, d.stride = stride, d.pad = pad;
  return d;
}

inline const std::vector<NetConv>& net_convs() {
  static const std::vector<NetConv> v = {
      // Local / non-local agent (Table 1): conv 5x5/2 p1, ResBlocks(16) and (8), relational 16->2.
      {"agent_conv1_5x5s2_4to32_84", conv(4, 84, 32, 5, 2, 1)},
      {"agent_res16_1x1_16to8_21", conv(16, 21, 8, 1, 1, 0)},
      {"agent_res16_3x3_8to8_21", conv(8, 21, 8, 3, 1, 1)},
      {"agent_res16_1x1_8to16_21", conv(8, 21, 16, 1, 1, 0)},
      {"agent_res8_1x1_8to4_21", conv(8, 21, 4, 1, 1, 0)},
      {"agent_res8_3x3_4to4_21", conv(4, 21, 4, 3, 1, 1)},
      {"agent_res8_1x1_4to8_21", conv(4, 21, 8, 1, 1, 0)},
      {"agent_rel_1x1_16to2_21", conv(16, 21, 2, 1, 1, 0)},
      {"agent_rel_1x1_2to16_21", conv(2, 21, 16, 1, 1, 0)},
      // Reward network (Table 3): 4x4/2 p1 convs, a 3x3 p1, relational blocks (64, 8), (128, 16).
      {"reward_conv1_4x4s2_4to32_84", conv(4, 84, 32, 4, 2, 1)},
      {"reward_conv2_4x4s2_32to64_42", conv(32, 42, 64, 4, 2, 1)},
      {"reward_conv3_3x3_64to64_21", conv(64, 21, 64, 3, 1, 1)},
      {"reward_rel1_1x1_64to8_21", conv(64, 21, 8, 1, 1, 0)},
      {"reward_rel1_1x1_8to64_21", conv(8, 21, 64, 1, 1, 0)},
      {"reward_conv4_4x4s2_64to128_21", conv(64, 21, 128, 4, 2, 1)},
      {"reward_rel2_1x1_128to16_10", conv(128, 10, 16, 1, 1, 0)},
      {"reward_rel2_1x1_16to128_10", conv(16, 10, 128, 1, 1, 0)},
      {"reward_conv5_4x4s2_128to128_10", conv(128, 10, 128, 4, 2, 1)},
      // Nature CNN: 8x8/4, 4x4/2, 3x3/1, no padding.
      {"nature_conv1_8x8s4_4to32_84", conv(4, 84, 32, 8, 4, 0)},
      {"nature_conv2_4x4s2_32to64_20", conv(32, 20, 64, 4, 2, 0)},
      {"nature_conv3_3x3_64to64_9", conv(64, 9, 64, 3, 1, 0)},
      // Large IMPALA: per stack a 3x3 conv without padding, then 3x3 p1 residual convs.
      {"impala_conv1_3x3_4to16_84", conv(4, 84, 16, 3, 1, 0)},
      {"impala_res1_3x3_16to16_40", conv(16, 40, 16, 3, 1, 1)},
      {"impala_conv2_3x3_16to32_40", conv(16, 40, 32, 3, 1, 0)},
      {"impala_res2_3x3_32to32_18", conv(32, 18, 32, 3, 1, 1)},
      {"impala_conv3_3x3_32to32_18", conv(32, 18, 32, 3, 1, 0)},
      {"impala_res3_3x3_32to32_7", conv(32, 7, 32, 3, 1, 1)},
  };
  return v;
}

struct NetPool {
  const char* name;
  kernels::Pool3dDims d;  // batch left at 1
};

inline const std::vector<NetPool>& net_pools() {
  static const std::vector<NetPool> v = {
      // Agent row 3: window (2,3,3), stride (2,2,2), pad (0,1,1) over (channel, H, W).
      {"agent_pool1_2x3x3s2_32x41", {1, 32, 41, 41, 2, 3, 3, 2, 2, 2, 0, 1, 1}},
      // Agent row 7: feature-only window (2,1,1), stride (2,1,1).
      {"agent_pool2_2x1x1s2_16x21", {1, 16, 21, 21, 2, 1, 1, 2, 1, 1, 0, 0, 0}},
      // IMPALA: 2-D max-pool 3x3 stride 2 without padding after each stack's first conv.
      {"impala_pool1_3x3s2_16x82", {1, 16, 82, 82, 1, 3, 3, 1, 2, 2, 0, 0, 0}},
      {"impala_pool2_3x3s2_32x38", {1, 32, 38, 38, 1, 3, 3, 1, 2, 2, 0, 0, 0}},
      {"impala_pool3_3x3s2_32x16", {1, 32, 16, 16, 1, 3, 3, 1, 2, 2, 0, 0, 0}},
  };
  return v;
}

struct NetLinear {
  const char* name;
  int in, out;  // x [M, in], w [out, in]
};

inline const std::vector<NetLinear>& net_linears() {
  static const std::vector<NetLinear> v = {
      {"agent_fc_3528to128", 3528, 128},  {"agent_policy_128to6", 128, 6},
      {"agent_value_128to1", 128, 1},     {"reward_fc_3200to1", 3200, 1},
      {"nature_fc_3136to512", 3136, 512}, {"impala_fc_1568to256", 1568, 256},
  };
  return v;
}

// LayerNorm widths: after the agent's, IMPALA's and Nature's FC.
inline const std::vector<int>& net_layernorm_widths() {
  static const std::vector<int> v = {128, 256, 512};
  return v;
}

}  // namespace relmimic::testing
