// Relational-block attention on the GPU, float: forward + backward of the fused flash-style
// kernels against the unfused cuBLAS baseline (batched GEMMs + row softmax over materialised
// [B, N, N] matrices), on the three (C', N) shapes of the networks at batch 128 / 1024 / 4096.
//
// Time: CUDA events around each forward + backward (manual time). Counters:
//   TFLOP/s   12 C' N^2 per sample (forward S and Y: 4 C' N^2; backward dG, dA, dTh, dPh: 8 C' N^2;
//             the fused path's recomputation of S in backward is not counted)
//   GB/s      the path's own minimum traffic: inputs read once and outputs written once
//             ((12 C' + 2) N floats per sample), plus for the unfused path its N x N matrices
//             (forward 4 N^2: write S, softmax in place, read A; backward 7 N^2)
//   speedup   (fused rows) the unfused path's median time over the fused one, same shape and
//             batch, each the median of 21 runs
// cuDNN's SDPA is not a baseline here: it takes fp16/bf16/fp8 only (this attention is float).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "kernels/attention.h"
#include "kernels/device.h"

#ifdef RELMIMIC_WITH_CUDA
#include <cuda_runtime.h>
#endif

namespace relmimic {
namespace {

using kernels::AttentionDims;
using kernels::AttentionPath;

struct Shape {
  int channels, positions;
  const char* name;
};
constexpr Shape kShapes[] = {
    {2, 441, "agent_21x21_c2"}, {8, 441, "reward_21x21_c8"}, {16, 100, "reward_10x10_c16"}};
constexpr int kBatches[] = {128, 1024, 4096};

[[maybe_unused]] double flops(const AttentionDims& d) {
  return 12.0 * d.batch * d.channels * double(d.positions) * d.positions;
}

[[maybe_unused]] double bytes(const AttentionDims& d, AttentionPath path) {
  const double n = d.positions, per_sample = (12.0 * d.channels + 2) * n +
                                             (path == AttentionPath::Unfused ? 11.0 * n * n : 0.0);
  return 4.0 * d.batch * per_sample;
}

#ifdef RELMIMIC_WITH_CUDA

#define BENCH_CUDA(call)                                                                 \
  do {                                                                                   \
    const cudaError_t e_ = (call);                                                       \
    if (e_ != cudaSuccess) {                                                             \
      state.SkipWithError((std::string(#call) + ": " + cudaGetErrorString(e_)).c_str()); \
      return;                                                                            \
    }                                                                                    \
  } while (0)

// Device buffers of one benchmark case. Inputs come in `sets` copies that are cycled, so that
// small batches are not timed out of L2 alone.
struct Case {
  AttentionDims d;
  int sets = 1;
  std::vector<float*> buffers;
  float *y = nullptr, *lse = nullptr, *dtheta = nullptr, *dphi = nullptr, *dg = nullptr;
  float *attn = nullptr, *work = nullptr;
  std::vector<float*> theta, phi, g, dy;

  ~Case() {
    for (float* p : buffers) cudaFree(p);
  }
  float* alloc(long n) {
    void* p = nullptr;
    if (cudaMalloc(&p, size_t(n) * sizeof(float)) != cudaSuccess) return nullptr;
    buffers.push_back(static_cast<float*>(p));
    return static_cast<float*>(p);
  }
  // Returns false when device memory runs out.
  bool init(const AttentionDims& dims, bool unfused) {
    d = dims;
    cudaDeviceProp prop{};
    cudaGetDeviceProperties(&prop, 0);
    const long q = d.batch * d.qkv_size(), rows = long(d.batch) * d.positions;
    const double set_bytes = 4.0 * q * sizeof(float);
    sets = int(std::clamp(2.0 * prop.l2CacheSize / set_bytes + 1, 1.0, 16.0));
    std::mt19937 rng(static_cast<unsigned>(q));
    std::uniform_real_distribution<float> uniform(-1.f, 1.f);
    std::vector<float> host(static_cast<size_t>(q));
    for (int s = 0; s < sets; ++s)
      for (auto* list : {&theta, &phi, &g, &dy}) {
        for (float& x : host) x = uniform(rng);
        float* p = alloc(q);
        if (!p) return false;
        cudaMemcpy(p, host.data(), host.size() * sizeof(float), cudaMemcpyHostToDevice);
        list->push_back(p);
      }
    y = alloc(q), lse = alloc(rows), dtheta = alloc(q), dphi = alloc(q), dg = alloc(q);
    if (unfused) attn = alloc(d.batch * d.attn_size()), work = alloc(d.batch * d.attn_size());
    return y && lse && dtheta && dphi && dg && (!unfused || (attn && work));
  }
  void run(AttentionPath path, int s) {
    kernels::attention_forward_cuda(path, d, theta[s], phi[s], g[s], y, lse, attn);
    kernels::attention_backward_cuda(path, d, theta[s], phi[s], g[s], y, lse, attn, dy[s], dtheta,
                                     dphi, dg, work);
  }
};

// Median time in ms of `reps` forward + backward passes, each between two events.
double median_ms(Case& c, AttentionPath path, int reps, cudaEvent_t start, cudaEvent_t stop) {
  std::vector<float> t;
  for (int i = 0; i < reps; ++i) {
    cudaEventRecord(start);
    c.run(path, i % c.sets);
    cudaEventRecord(stop);
    cudaEventSynchronize(stop);
    float ms = 0;
    cudaEventElapsedTime(&ms, start, stop);
    t.push_back(ms);
  }
  std::nth_element(t.begin(), t.begin() + reps / 2, t.end());
  return t[size_t(reps / 2)];
}

void BM_Attention(benchmark::State& state, Shape shape, int batch, AttentionPath path) {
  if (kernels::cuda_device_count() == 0) {
    state.SkipWithError("no CUDA device");
    return;
  }
  const AttentionDims d{batch, shape.channels, shape.positions};
  Case c;
  if (!c.init(d, path == AttentionPath::Unfused)) {
    state.SkipWithError("not enough device memory");
    return;
  }
  cudaEvent_t start, stop;
  BENCH_CUDA(cudaEventCreate(&start));
  BENCH_CUDA(cudaEventCreate(&stop));
  for (int i = 0; i < 3; ++i) c.run(path, i % c.sets);  // module load, cuBLAS handle, heuristics
  BENCH_CUDA(cudaDeviceSynchronize());

  double total_s = 0;
  long iters = 0;
  for (auto _ : state) {
    const double ms = median_ms(c, path, 1, start, stop);
    state.SetIterationTime(ms * 1e-3);
    total_s += ms * 1e-3;
    ++iters;
  }
  BENCH_CUDA(cudaGetLastError());
  const double per_iter = total_s / double(std::max(iters, 1L));
  state.counters["TFLOP/s"] = flops(d) / per_iter * 1e-12;
  state.counters["GB/s"] = bytes(d, path) / per_iter * 1e-9;
  state.counters["batch"] = batch;
  if (path == AttentionPath::Fused) {
    // The baseline on the same shape and batch, in this process: the ratio is like for like.
    Case u;
    if (u.init(d, true)) {
      for (int i = 0; i < 3; ++i) u.run(AttentionPath::Unfused, i % u.sets);
      const double fused = median_ms(c, path, 21, start, stop);
      const double unfused = median_ms(u, AttentionPath::Unfused, 21, start, stop);
      state.counters["speedup"] = unfused / fused;
    }
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
}

#else

void BM_Attention(benchmark::State& state, Shape, int, AttentionPath) {
  state.SkipWithError("no CUDA device");
}

#endif  // RELMIMIC_WITH_CUDA

void register_all() {
  for (const Shape& s : kShapes)
    for (int b : kBatches)
      for (AttentionPath p : {AttentionPath::Fused, AttentionPath::Unfused}) {
        // op/shape/rest: the grouping of tools/gpu_validate's summary.
        const std::string name = std::string("Attention/") + s.name + "/fwd_bwd/B" +
                                 std::to_string(b) + "/" + kernels::attention_path_name(p);
        benchmark::RegisterBenchmark(name.c_str(), BM_Attention, s, b, p)
            ->UseManualTime()
            ->Unit(benchmark::kMicrosecond);
      }
}

}  // namespace
}  // namespace relmimic

int main(int argc, char** argv) {
  relmimic::register_all();
  benchmark::AddCustomContext("device", relmimic::kernels::cuda_device_description(0));
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
