// The CPU convolutions pass by pass on the networks' shapes (48x48 quick settings and SPEC's
// 84x84): im2col + GEMM (the reference) against oneDNN's JIT kernels (its own layouts, reorders
// to and from NCHW included), float, the process's OpenMP threads. The rule in conv2d_cpu.cpp
// (which passes go to oneDNN) comes from these numbers; bench/results/cpu_conv_onednn.txt.
// Without oneDNN the onednn cases report an error.
//   bench_conv_cpu --benchmark_filter='stem_48'
#include <benchmark/benchmark.h>

#include <algorithm>
#include <string>
#include <vector>

#include "engine/rng.h"
#include "kernels/conv2d.h"
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
      {"agent_stem_48", 4, 48, 32, 5, 2, 1},        {"agent_res_1x1_16to8_12", 16, 12, 8, 1, 1, 0},
      {"agent_res_3x3_8to8_12", 8, 12, 8, 3, 1, 1}, {"reward_conv1_48", 4, 48, 32, 4, 2, 1},
      {"reward_conv2_24", 32, 24, 64, 4, 2, 1},     {"reward_conv3_12", 64, 12, 64, 3, 1, 1},
      {"reward_conv4_12", 64, 12, 128, 4, 2, 1},    {"reward_conv5_6", 128, 6, 128, 4, 2, 1},
      {"agent_stem_84", 4, 84, 32, 5, 2, 1},        {"reward_conv2_42", 32, 42, 64, 4, 2, 1},
      {"reward_conv3_21", 64, 21, 64, 3, 1, 1},     {"reward_conv4_21", 64, 21, 128, 4, 2, 1},
  };
  return v;
}

enum Impl { kReference, kOneDnn };
enum Pass { kForward, kBackwardInput, kBackwardWeight };

void BM_Conv(benchmark::State& state, Shape s, int batch, Pass pass, Impl impl) {
  const Conv2dDims d{batch, s.in_c, s.hw, s.hw, s.out_c, s.k, s.k, s.stride, s.pad};
  relmimic::Rng rng(1);
  auto fill = [&](size_t n) {
    std::vector<float> v(n);
    for (float& e : v) e = float(rng.uniform(-1.0, 1.0));
    return v;
  };
  auto x = fill(size_t(batch * d.in_size())), w = fill(size_t(d.weight_size()));
  auto b = fill(size_t(d.out_c)), dy = fill(size_t(batch * d.out_size()));
  std::vector<float> y(dy.size()), dx(x.size()), dw(w.size()), db(b.size());
#ifndef RELMIMIC_WITH_ONEDNN
  if (impl == kOneDnn) {
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
    if (pass == kForward) return dnn::forward(d, x.data(), w.data(), b.data(), y.data());
    if (pass == kBackwardInput) return dnn::backward_input(d, dy.data(), w.data(), dx.data());
    return dnn::backward_weight(d, x.data(), dy.data(), dw.data(), db.data());
#else
    return false;
#endif
  };
  // The reference is im2col + GEMM whatever the process's backend: the rule must not route it.
  const relmimic::kernels::CpuConv saved = relmimic::kernels::cpu_conv();
  relmimic::kernels::set_cpu_conv(relmimic::kernels::CpuConv::Reference);
  if (!run()) {
    state.SkipWithError("oneDNN has no primitive for this shape");
    relmimic::kernels::set_cpu_conv(saved);
    return;
  }
  for (auto _ : state) {
    run();
    benchmark::ClobberMemory();
  }
  relmimic::kernels::set_cpu_conv(saved);
  const double macs = double(batch) * d.out_size() * d.in_c * d.kh * d.kw;
  state.counters["GFLOP/s"] = benchmark::Counter(
      2 * macs, benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
}

const int registered = [] {
  const char* passes[] = {"fwd", "bwd_input", "bwd_weight"};
  const char* impls[] = {"im2col_gemm", "onednn"};
  for (const Shape& s : shapes())
    for (int batch : {8, 64, 128})
      for (int p = 0; p < 3; ++p)
        for (int i = 0; i < 2; ++i) {
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
