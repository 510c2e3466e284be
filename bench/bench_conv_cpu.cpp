// The CPU convolutions pass by pass on the networks' shapes (48x48 quick settings and SPEC's
// 84x84): im2col + GEMM (the reference) against oneDNN's JIT kernels (its own layouts, reorders
// to and from NCHW included), float, the process's OpenMP threads. The rule in conv2d_cpu.cpp
// (which passes go to oneDNN) comes from these numbers; bench/results/cpu_conv_onednn.txt.
// Without oneDNN the onednn cases report an error. The agent's stem max-pool too (Pool/...), and
// the relational blocks' attention passes on the CPU (Attention/...), and the 1x1 convs through
// im2col + GEMM against their direct path (Pointwise/...).
//   bench_conv_cpu --benchmark_filter='stem_48'
#include <benchmark/benchmark.h>

#include <algorithm>
#include <string>
#include <vector>

#include "engine/rng.h"
#include "kernels/attention.h"
#include "kernels/conv2d.h"
#include "kernels/conv_pool.h"
#include "kernels/pool3d.h"
#ifdef RELMIMIC_WITH_ONEDNN
#include "kernels/conv2d_onednn.h"
#endif

namespace {

using relmimic::kernels::Conv2dDims;

struct Shape {
  const char* name;
  int in_c, hw, out_c, k, stride, pad;
};
// The agent's stem and ResBlock convs and the reward net's five convs, at both frame sizes.
const std::vector<Shape>& shapes() {
  static const std::vector<Shape> v = {
      {"agent_stem_48", 4, 48, 32, 5, 2, 1},
      {"agent_res_1x1_16to8_12", 16, 12, 8, 1, 1, 0},
      {"agent_res_3x3_8to8_12", 8, 12, 8, 3, 1, 1},
      {"agent_res_3x3_4to4_12", 4, 12, 4, 3, 1, 1},
      {"reward_conv1_48", 4, 48, 32, 4, 2, 1},
      {"reward_conv2_24", 32, 24, 64, 4, 2, 1},
      {"reward_conv3_12", 64, 12, 64, 3, 1, 1},
      {"reward_conv4_12", 64, 12, 128, 4, 2, 1},
      {"reward_conv5_6", 128, 6, 128, 4, 2, 1},
      {"agent_stem_84", 4, 84, 32, 5, 2, 1},
      {"reward_conv2_42", 32, 42, 64, 4, 2, 1},
      {"reward_conv3_21", 64, 21, 64, 3, 1, 1},
      {"reward_conv4_21", 64, 21, 128, 4, 2, 1},
      {"reward_conv1_84", 4, 84, 32, 4, 2, 1},
      {"reward_conv5_10", 128, 10, 128, 4, 2, 1},
      {"agent_res_1x1_16to8_21", 16, 21, 8, 1, 1, 0},
      {"agent_res_1x1_8to16_21", 8, 21, 16, 1, 1, 0},
      {"agent_res_3x3_8to8_21", 8, 21, 8, 3, 1, 1},
      {"agent_res_3x3_4to4_21", 4, 21, 4, 3, 1, 1},
  };
  return v;
}

// kPhased: the backward passes of a stride-2 conv with an even kernel as oneDNN's stride-1 conv
// over the input's four phases (conv2d_cpu.cpp, phase_split), through conv2d_*_cpu.
enum Impl { kReference, kOneDnn, kPhased };
enum Pass { kForward, kBackwardInput, kBackwardWeight };

// A conv's operands, uniform in [-1, 1], and its outputs.
struct ConvData {
  std::vector<float> x, w, b, dy, y, dx, dw, db;
  ConvData(const Conv2dDims& d, uint64_t seed) {
    relmimic::Rng rng(seed);
    auto fill = [&](long n) {
      std::vector<float> v(static_cast<size_t>(n));
      for (float& e : v) e = float(rng.uniform(-1.0, 1.0));
      return v;
    };
    x = fill(d.batch * d.in_size()), w = fill(d.weight_size());
    b = fill(d.out_c), dy = fill(d.batch * d.out_size());
    y.resize(dy.size()), dx.resize(x.size()), dw.resize(w.size()), db.resize(b.size());
  }
};

void BM_Conv(benchmark::State& state, Shape s, int batch, Pass pass, Impl impl) {
  const Conv2dDims d{batch, s.in_c, s.hw, s.hw, s.out_c, s.k, s.k, s.stride, s.pad};
  ConvData c(d, 1);
  auto &x = c.x, &w = c.w, &b = c.b, &dy = c.dy, &y = c.y, &dx = c.dx, &dw = c.dw, &db = c.db;
#ifndef RELMIMIC_WITH_ONEDNN
  if (impl != kReference) {
    state.SkipWithError("relmimic was built without oneDNN");
    return;
  }
#endif
  auto run = [&] {
    if (impl == kReference) {
      if (pass == kForward)
        relmimic::kernels::conv2d_forward_cpu(d, x.data(), w.data(), b.data(), y.data());
      else if (pass == kBackwardInput)
        relmimic::kernels::conv2d_backward_input_cpu(d, dy.data(), w.data(), dx.data());
      else
        relmimic::kernels::conv2d_backward_weight_cpu(d, x.data(), dy.data(), dw.data(), db.data());
      return true;
    }
#ifdef RELMIMIC_WITH_ONEDNN
    namespace dnn = relmimic::kernels::onednn;
    if (impl == kPhased) {
      // dy in oneDNN's blocked layout, as the reward net's conv2 hands it to conv1.
      Conv2dDims b = d;
      b.blocked_out = dnn::activation_block() > 0 && d.out_c % dnn::activation_block() == 0;
      relmimic::kernels::set_cpu_conv(relmimic::kernels::CpuConv::OneDnn);
      if (pass == kBackwardInput)
        relmimic::kernels::conv2d_backward_input_cpu(b, dy.data(), w.data(), dx.data());
      else
        relmimic::kernels::conv2d_backward_weight_cpu(b, x.data(), dy.data(), dw.data(), db.data());
      relmimic::kernels::set_cpu_conv(relmimic::kernels::CpuConv::Reference);
      return true;
    }
    if (pass == kForward) return dnn::forward(d, x.data(), w.data(), b.data(), y.data());
    if (pass == kBackwardInput) return dnn::backward_input(d, dy.data(), w.data(), dx.data());
    return dnn::backward_weight(d, x.data(), dy.data(), dw.data(), db.data());
#else
    return false;
#endif
  };
  // The reference is im2col + GEMM whatever the process's backend: the rule must not route it,
  // nor the direct 1x1 path (Pointwise/ below).
  const relmimic::kernels::CpuConv saved = relmimic::kernels::cpu_conv();
  relmimic::kernels::set_cpu_conv(relmimic::kernels::CpuConv::Reference);
  relmimic::kernels::detail::set_pointwise_direct_max_channels(0);
  struct Restore {
    relmimic::kernels::CpuConv conv;
    ~Restore() {
      relmimic::kernels::set_cpu_conv(conv);
      relmimic::kernels::detail::set_pointwise_direct_max_channels(-1);
    }
  } restore{saved};
  if (!run()) {
    state.SkipWithError("oneDNN has no primitive for this shape");
    return;
  }
  for (auto _ : state) {
    run();
    benchmark::ClobberMemory();
  }
  const double macs = double(batch) * d.out_size() * d.in_c * d.kh * d.kw;
  state.counters["GFLOP/s"] = benchmark::Counter(
      2 * macs, benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
}

// 1x1 convs of the networks (relational blocks' theta/phi/g and output convs, agent ResBlocks),
// im2col + GEMM against the direct per-sample products (kernels/conv2d_pointwise_cpu.cpp).
const std::vector<Shape>& pointwise_shapes() {
  static const std::vector<Shape> v = {
      {"reward1_theta_12", 64, 12, 8, 1, 1, 0},   {"reward1_out_12", 8, 12, 64, 1, 1, 0},
      {"reward2_theta_6", 128, 6, 16, 1, 1, 0},   {"reward2_out_6", 16, 6, 128, 1, 1, 0},
      {"agent_theta_12", 16, 12, 2, 1, 1, 0},     {"agent_out_12", 2, 12, 16, 1, 1, 0},
      {"agent_res_16to8_12", 16, 12, 8, 1, 1, 0}, {"agent_res_8to16_12", 8, 12, 16, 1, 1, 0},
      {"agent_res_8to4_12", 8, 12, 4, 1, 1, 0},   {"reward1_theta_21", 64, 21, 8, 1, 1, 0},
      {"reward1_out_21", 8, 21, 64, 1, 1, 0},     {"agent_res_16to8_21", 16, 21, 8, 1, 1, 0},
  };
  return v;
}

void BM_Pointwise(benchmark::State& state, Shape s, int batch, Pass pass, bool direct) {
  const Conv2dDims d{batch, s.in_c, s.hw, s.hw, s.out_c, 1, 1, 1, 0};
  ConvData c(d, 3);
  auto &x = c.x, &w = c.w, &b = c.b, &dy = c.dy, &y = c.y, &dx = c.dx, &dw = c.dw, &db = c.db;
  namespace k = relmimic::kernels;
  // The direct kernels called as they are (whatever the routing rule says for the shape), the
  // GEMM path through conv2d_*_cpu with the direct path switched off.
  k::detail::set_pointwise_direct_max_channels(0);
  for (auto _ : state) {
    if (pass == kForward) {
      if (direct)
        k::detail::pointwise_forward_cpu(d, x.data(), w.data(), b.data(), y.data());
      else
        k::conv2d_forward_cpu(d, x.data(), w.data(), b.data(), y.data());
    } else if (pass == kBackwardInput) {
      if (direct)
        k::detail::pointwise_backward_input_cpu(d, dy.data(), w.data(), dx.data());
      else
        k::conv2d_backward_input_cpu(d, dy.data(), w.data(), dx.data());
    } else if (direct) {
      k::detail::pointwise_backward_weight_cpu(d, x.data(), dy.data(), dw.data(), db.data());
    } else {
      k::conv2d_backward_weight_cpu(d, x.data(), dy.data(), dw.data(), db.data());
    }
    benchmark::ClobberMemory();
  }
  k::detail::set_pointwise_direct_max_channels(-1);
  const double macs = double(batch) * d.out_size() * d.in_c;
  state.counters["GFLOP/s"] = benchmark::Counter(
      2 * macs, benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
}

// The agent's stem max-pool (window (2, 3, 3), stride 2, padding (0, 1, 1)) after the 5x5/2
// conv, through both CPU versions (kernels/pool3d.h; the rule picks the table below 32 outputs
// per row).
enum PoolVersion { kRows, kTable, kStem };
void BM_Pool(benchmark::State& state, int hw, int batch, PoolVersion version) {
  relmimic::kernels::Pool3dDims d;
  d.batch = batch, d.c = 32, d.h = hw, d.w = hw;
  d.kc = 2, d.kh = 3, d.kw = 3, d.sc = 2, d.sh = 2, d.sw = 2, d.ph = 1, d.pw = 1;
  relmimic::Rng rng(2);
  std::vector<float> x(size_t(batch * d.in_size())), y(size_t(batch * d.out_size()));
  std::vector<int32_t> arg(y.size());
  for (float& e : x) e = float(rng.uniform(-1.0, 1.0));
  namespace detail = relmimic::kernels::detail;
  if (version == kStem && !detail::pool3d_forward_stem_cpu(d, x.data(), y.data(), arg.data())) {
    state.SkipWithError("this build has no stem version (float AVX-512 builds only)");
    return;
  }
  for (auto _ : state) {
    if (version == kTable)
      detail::pool3d_forward_table_cpu(d, x.data(), y.data(), arg.data());
    else if (version == kRows)
      detail::pool3d_forward_rows_cpu(d, x.data(), y.data(), arg.data());
    else
      detail::pool3d_forward_stem_cpu(d, x.data(), y.data(), arg.data());
    benchmark::ClobberMemory();
  }
  state.counters["outputs/s"] =
      benchmark::Counter(double(y.size()), benchmark::Counter::kIsIterationInvariantRate);
}

// The stem's weight gradient from the pool's output gradient (ReLU after the pool: about half
// of it zero): the pool's backward scatter + im2col + GEMM (the reference, as the torso ran it
// before), against kernels::conv2d_backward_weight_pooled_cpu.
void BM_StemPooledWeightGrad(benchmark::State& state, int hw, int frames, int batch, bool pooled) {
  const Conv2dDims d{batch, frames, hw, hw, 32, 5, 5, 2, 1};
  relmimic::kernels::Pool3dDims p;
  p.batch = batch, p.c = d.out_c, p.h = d.out_h(), p.w = d.out_w();
  p.kc = 2, p.kh = 3, p.kw = 3, p.sc = 2, p.sh = 2, p.sw = 2, p.ph = 1, p.pw = 1;
  relmimic::Rng rng(4);
  auto fill = [&](size_t n) {
    std::vector<float> v(n);
    for (float& e : v) e = float(rng.uniform(-1.0, 1.0));
    return v;
  };
  auto x = fill(size_t(batch * d.in_size())), y = fill(size_t(batch * d.out_size()));
  std::vector<float> py(size_t(batch * p.out_size())), dpool = fill(py.size());
  std::vector<int32_t> arg(py.size());
  relmimic::kernels::pool3d_forward_cpu(p, y.data(), py.data(), arg.data());
  for (size_t i = 0; i < py.size(); ++i)
    if (!(py[i] > 0)) dpool[i] = 0;
  std::vector<float> dy(y.size()), dw(size_t(d.weight_size())), db(size_t(d.out_c));
  const relmimic::kernels::CpuConv saved = relmimic::kernels::cpu_conv();
  relmimic::kernels::set_cpu_conv(relmimic::kernels::CpuConv::Reference);
  for (auto _ : state) {
    if (pooled) {
      relmimic::kernels::conv2d_backward_weight_pooled_cpu(d, x.data(), p, arg.data(), dpool.data(),
                                                           dw.data(), db.data());
    } else {
      relmimic::kernels::pool3d_backward_cpu(p, dpool.data(), arg.data(), dy.data());
      relmimic::kernels::conv2d_backward_weight_cpu(d, x.data(), dy.data(), dw.data(), db.data());
    }
    benchmark::ClobberMemory();
  }
  relmimic::kernels::set_cpu_conv(saved);
}

// The relational block's attention core (kernels/attention.h) pass by pass, float, the
// process's threads over the batch: forward, backward, and the gradient penalty's jvp and
// backward_jvp. Shapes: the reward net's two blocks and the agent's, at 84x84 and 48x48 frames.
struct AttentionShape {
  const char* name;
  int channels, positions;
};
enum class AttentionPass { forward, backward, jvp, backward_jvp };
void BM_Attention(benchmark::State& state, AttentionShape s, int batch, AttentionPass pass) {
  namespace k = relmimic::kernels;
  const k::AttentionDims d{batch, s.channels, s.positions};
  relmimic::Rng rng(5);
  auto fill = [&](long n) {
    std::vector<float> v(static_cast<size_t>(n));
    for (float& e : v) e = float(rng.uniform(-1.0, 1.0));
    return v;
  };
  const long q = batch * d.qkv_size(), a = batch * d.attn_size();
  auto th = fill(q), ph = fill(q), g = fill(q), t_th = fill(q), t_ph = fill(q), t_g = fill(q);
  auto dy = fill(q), dt_y = fill(q);
  std::vector<float> y(static_cast<size_t>(q)), attn(static_cast<size_t>(a));
  std::vector<float> s_dot(static_cast<size_t>(a)), out(static_cast<size_t>(6 * q));
  float* o = out.data();
  k::attention_forward_cpu(d, th.data(), ph.data(), g.data(), y.data(), attn.data());
  k::attention_jvp_cpu(d, th.data(), ph.data(), g.data(), attn.data(), t_th.data(), t_ph.data(),
                       t_g.data(), o, s_dot.data());
  for (auto _ : state) {
    switch (pass) {
      case AttentionPass::forward:
        k::attention_forward_cpu(d, th.data(), ph.data(), g.data(), y.data(), attn.data());
        break;
      case AttentionPass::backward:
        k::attention_backward_cpu(d, th.data(), ph.data(), g.data(), attn.data(), dy.data(), o,
                                  o + q, o + 2 * q);
        break;
      case AttentionPass::jvp:
        k::attention_jvp_cpu(d, th.data(), ph.data(), g.data(), attn.data(), t_th.data(),
                             t_ph.data(), t_g.data(), o, s_dot.data());
        break;
      case AttentionPass::backward_jvp:
        k::attention_backward_jvp_cpu(d, th.data(), ph.data(), g.data(), attn.data(), t_th.data(),
                                      t_ph.data(), t_g.data(), s_dot.data(), dy.data(), dt_y.data(),
                                      o, o + q, o + 2 * q, o + 3 * q, o + 4 * q, o + 5 * q);
        break;
    }
    benchmark::ClobberMemory();
  }
}

const int registered = [] {
  const AttentionShape attention[] = {{"reward1_84", 8, 441}, {"reward2_84", 16, 100},
                                      {"agent_84", 2, 441},   {"reward1_48", 8, 144},
                                      {"reward2_48", 16, 36}, {"agent_48", 2, 144}};
  const char* attention_passes[] = {"fwd", "bwd", "jvp", "bwd_jvp"};
  for (const AttentionShape& s : attention)
    for (int batch : {32, 128})
      for (int p = 0; p < 4; ++p) {
        const std::string name = std::string("Attention/") + s.name + "/b" + std::to_string(batch) +
                                 "/" + attention_passes[p];
        benchmark::RegisterBenchmark(name.c_str(), BM_Attention, s, batch, AttentionPass(p))
            ->Unit(benchmark::kMillisecond)
            ->MinTime(0.2);
      }
  for (int hw : {48, 84})
    for (int frames : {4, 8})
      for (int batch : {64, 128})
        for (bool pooled : {false, true}) {
          const std::string name = "StemPooledWeightGrad/" + std::to_string(hw) +
                                   (frames == 4 ? "" : "/k" + std::to_string(frames)) + "/b" +
                                   std::to_string(batch) + (pooled ? "/pooled" : "/dense");
          benchmark::RegisterBenchmark(name.c_str(), BM_StemPooledWeightGrad, hw, frames, batch,
                                       pooled)
              ->Unit(benchmark::kMillisecond)
              ->MinTime(0.2);
        }
  // Stem outputs at 48x48 and 84x84 frames: 23x23 -> 12x12 and 41x41 -> 21x21.
  for (int hw : {23, 41})
    for (int batch : {8, 128})
      for (PoolVersion v : {kRows, kTable, kStem}) {
        const char* names[] = {"/rows", "/table", "/stem"};
        const std::string name =
            "Pool/stem_" + std::to_string(hw) + "/b" + std::to_string(batch) + names[v];
        benchmark::RegisterBenchmark(name.c_str(), BM_Pool, hw, batch, v)
            ->Unit(benchmark::kMillisecond)
            ->MinTime(0.2);
      }
  const char* passes[] = {"fwd", "bwd_input", "bwd_weight"};
  for (const Shape& s : pointwise_shapes())
    for (int batch : {64, 128})
      for (int p = 0; p < 3; ++p)
        for (bool direct : {false, true}) {
          const std::string name = std::string("Pointwise/") + s.name + "/b" +
                                   std::to_string(batch) + "/" + passes[p] +
                                   (direct ? "/direct" : "/im2col_gemm");
          benchmark::RegisterBenchmark(name.c_str(), BM_Pointwise, s, batch, Pass(p), direct)
              ->Unit(benchmark::kMillisecond)
              ->MinTime(0.2);
        }
  const char* impls[] = {"im2col_gemm", "onednn", "phased"};
  for (const Shape& s : shapes())
    for (int batch : {8, 64, 128})
      for (int p = 0; p < 3; ++p)
        for (int i = 0; i < 3; ++i) {
          const bool phased = s.stride == 2 && s.k % 2 == 0 && s.in_c < 32 && p != kForward;
          if (i == kPhased && !phased) continue;
          const std::string name = std::string("Conv/") + s.name + "/b" + std::to_string(batch) +
                                   "/" + passes[p] + "/" + impls[i];
          benchmark::RegisterBenchmark(name.c_str(), BM_Conv, s, batch, Pass(p), Impl(i))
              ->Unit(benchmark::kMillisecond)
              ->MinTime(0.2);
        }
  return 0;
}();

}  // namespace

BENCHMARK_MAIN();
