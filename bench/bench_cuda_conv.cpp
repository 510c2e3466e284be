// The CUDA conv2d, MaxPool3D, linear and LayerNorm kernels against their vendor baselines
// (cuDNN, cuBLAS; a device-to-device copy of the same bytes for LayerNorm, which has none) on
// the exact layer shapes of SPEC.md's networks at batch 128, 1024 and 4096.
//
// Per benchmark: time = median per call over samples timed with CUDA events (a sample is R
// back-to-back calls, R sized so a sample lasts >= 0.5 ms, which hides launch gaps), inputs
// rotated over enough copies to exceed the L2 cache, all data random (never zeros). Counters:
// ms, TFLOP/s (2 per multiply-add), GB/s (each input read once, each output written once), the
// baseline's ms and TFLOP/s or GB/s, and speedup = baseline ms / ms.
// Without a GPU every benchmark reports "no CUDA device".
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "kernels/conv2d.h"
#include "kernels/cuda_check.h"
#include "kernels/cudnn_baseline.h"
#include "kernels/device.h"
#include "kernels/gemm.h"
#include "kernels/linear.h"
#include "kernels/norm.h"
#include "kernels/pool3d.h"
#include "tests/gpu/net_shapes.h"

namespace relmimic {
namespace {

using kernels::CudaMath;

constexpr int kBatches[] = {128, 1024, 4096};

// --- device data -----------------------------------------------------------------------------

template <class T>
struct DeviceArray {
  T* p = nullptr;
  // Zeroed: accumulating outputs (dw, db) start from defined values.
  explicit DeviceArray(long n) {
    const size_t bytes = sizeof(T) * size_t(std::max(n, 1L));
    CUDA_CHECK(cudaMalloc(&p, bytes));
    CUDA_CHECK(cudaMemset(p, 0, bytes));
  }
  ~DeviceArray() { cudaFree(p); }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;
};

// 2 GiB of uniform(-1, 1) floats made once; inputs are read-only views into it at rotating
// offsets (the largest input, IMPALA's first conv output at batch 4096, is 1.8 GB).
class RandomPool {
 public:
  static constexpr long kFloats = 512L << 20;
  static RandomPool& get() {
    static RandomPool pool;
    return pool;
  }
  // n floats starting at a position that depends on (slot, set); views may overlap.
  const float* view(long n, int slot, int set) const {
    const long span = kFloats - n + 1;
    const long offset = (long(set) * 7919 * 4096 + long(slot) * 104729 * 64) % span;
    return data_.p + offset;
  }

 private:
  RandomPool() : data_(kFloats) {
    std::vector<float> host(size_t(64) << 20);
    uint64_t s = 0x9e3779b97f4a7c15ull;
    for (long done = 0; done < kFloats; done += long(host.size())) {
      for (auto& v : host) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;  // xorshift64
        v = float(double(s >> 11) * 0x1.0p-53 * 2.0 - 1.0);
      }
      CUDA_CHECK(cudaMemcpy(data_.p + done, host.data(), sizeof(float) * host.size(),
                            cudaMemcpyHostToDevice));
    }
  }
  DeviceArray<float> data_;
};

// Input copies for a problem whose inputs take `bytes`: enough to exceed the 50-60 MB L2.
int sets_for(double bytes) {
  return int(std::clamp(std::ceil(256e6 / std::max(bytes, 1.0)), 1.0, 64.0));
}

// --- timing ----------------------------------------------------------------------------------

class EventTimer {
 public:
  EventTimer() {
    CUDA_CHECK(cudaEventCreate(&start_));
    CUDA_CHECK(cudaEventCreate(&stop_));
  }
  ~EventTimer() {
    cudaEventDestroy(start_);
    cudaEventDestroy(stop_);
  }
  // Milliseconds of `calls` back-to-back calls f(i), i = first, first + 1, ...
  double ms(const std::function<void(int)>& f, int first, int calls) {
    CUDA_CHECK(cudaEventRecord(start_));
    for (int i = 0; i < calls; ++i) f(first + i);
    CUDA_CHECK(cudaEventRecord(stop_));
    CUDA_CHECK(cudaEventSynchronize(stop_));
    float t = 0;
    CUDA_CHECK(cudaEventElapsedTime(&t, start_, stop_));
    return double(t);
  }

 private:
  cudaEvent_t start_{}, stop_{};
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
}

struct Work {
  double flops;  // 0 for memory-bound ops: no TFLOP/s reported
  double bytes;
};

// Times ours(i) (Google Benchmark's iterations) and then baseline(i) as many times; i selects
// the input set.
void measure(benchmark::State& state, const std::function<void(int)>& ours,
             const std::function<void(int)>& baseline, Work work) {
  EventTimer timer;
  // Warm-up (module load, handles, workspaces) and the call count per sample.
  timer.ms(ours, 0, 2);
  timer.ms(baseline, 0, 2);
  const double one = std::max(timer.ms(ours, 0, 1), 1e-4);
  const int calls = int(std::clamp(std::ceil(0.5 / one), 1.0, 100.0));
  std::vector<double> t;
  int next = 0;
  for (auto _ : state) {
    const double ms = timer.ms(ours, next, calls) / calls;
    next += calls;
    state.SetIterationTime(ms * 1e-3);
    t.push_back(ms);
  }
  std::vector<double> tb;
  const int samples = std::clamp(int(t.size()), 5, 200);
  for (int s = 0; s < samples; ++s) tb.push_back(timer.ms(baseline, s * calls, calls) / calls);
  CUDA_CHECK(cudaGetLastError());
  const double ms = median(t), bms = median(tb);
  state.counters["ms"] = ms;
  state.counters["GB/s"] = work.bytes / (ms * 1e6);
  state.counters["baseline_ms"] = bms;
  state.counters["baseline_GB/s"] = work.bytes / (bms * 1e6);
  if (work.flops > 0) {
    state.counters["TFLOP/s"] = work.flops / (ms * 1e9);
    state.counters["baseline_TFLOP/s"] = work.flops / (bms * 1e9);
  }
  state.counters["speedup"] = bms / ms;
}

bool have_gpu(benchmark::State& state) {
  if (kernels::cuda_device_count() > 0) return true;
  state.SkipWithError("no CUDA device");
  return false;
}

// --- conv ------------------------------------------------------------------------------------

enum class Pass { Forward, BackwardInput, BackwardWeight };
const char* pass_name(Pass p) {
  return p == Pass::Forward ? "fwd" : p == Pass::BackwardInput ? "bwd_input" : "bwd_weight";
}

// One cuDNN object at a time: consecutive benchmarks of a (shape, batch, math) share its Find.
const kernels::CudnnConv2d& cudnn_conv(const kernels::Conv2dDims& d, CudaMath math) {
  static std::unique_ptr<kernels::CudnnConv2d> cached;
  static std::string key;
  const std::string k = std::to_string(d.batch) + "/" + std::to_string(d.in_c) + "/" +
                        std::to_string(d.in_h) + "/" + std::to_string(d.out_c) + "/" +
                        std::to_string(d.kh) + "/" + std::to_string(d.stride) + "/" +
                        std::to_string(d.pad) + "/" + kernels::cuda_math_name(math);
  if (!cached || k != key) {
    cached.reset();
    cached = std::make_unique<kernels::CudnnConv2d>(d, math);
    key = k;
  }
  return *cached;
}

void BM_Conv2d(benchmark::State& state, kernels::Conv2dDims d, Pass pass, CudaMath math) {
  if (!have_gpu(state)) return;
  if (!kernels::cudnn_available()) {
    state.SkipWithError(kernels::cudnn_description().c_str());
    return;
  }
  const kernels::CudnnConv2d& cudnn = cudnn_conv(d, math);
  state.SetLabel(cudnn.algorithms());
  const long nx = d.batch * d.in_size(), ny = d.batch * d.out_size(), nw = d.weight_size();
  const auto& pool = RandomPool::get();
  DeviceArray<float> out(pass == Pass::Forward         ? ny
                         : pass == Pass::BackwardInput ? nx
                                                       : nw + d.out_c);
  float* o = out.p;
  const double macs = double(d.batch) * d.out_size() * d.in_c * d.kh * d.kw;
  const double f = sizeof(float);
  std::function<void(int)> ours, base;
  Work work{2 * macs, 0};
  int sets = 1;
  switch (pass) {
    case Pass::Forward:
      sets = sets_for(f * (nx + nw));
      work.bytes = f * (nx + nw + d.out_c + ny);
      ours = [&, sets](int i) {
        kernels::conv2d_forward_cuda(d, pool.view(nx, 0, i % sets), pool.view(nw, 1, i % sets),
                                     pool.view(d.out_c, 2, i % sets), o, math);
      };
      base = [&, sets](int i) {
        cudnn.forward(pool.view(nx, 0, i % sets), pool.view(nw, 1, i % sets),
                      pool.view(d.out_c, 2, i % sets), o);
      };
      break;
    case Pass::BackwardInput:
      sets = sets_for(f * (ny + nw));
      work.bytes = f * (ny + nw + nx);
      ours = [&, sets](int i) {
        kernels::conv2d_backward_input_cuda(d, pool.view(ny, 0, i % sets),
                                            pool.view(nw, 1, i % sets), o, math);
      };
      base = [&, sets](int i) {
        cudnn.backward_input(pool.view(ny, 0, i % sets), pool.view(nw, 1, i % sets), o);
      };
      break;
    case Pass::BackwardWeight:
      sets = sets_for(f * (nx + ny));
      work.bytes = f * (nx + ny + 2 * (nw + d.out_c));  // dw, db are read and written
      ours = [&, sets](int i) {
        kernels::conv2d_backward_weight_cuda(d, pool.view(nx, 0, i % sets),
                                             pool.view(ny, 1, i % sets), o, o + nw, math);
      };
      base = [&, sets](int i) {
        cudnn.backward_weight(pool.view(nx, 0, i % sets), pool.view(ny, 1, i % sets), o, o + nw);
      };
      break;
  }
  measure(state, ours, base, work);
}

// --- pool ------------------------------------------------------------------------------------

void BM_Pool3d(benchmark::State& state, kernels::Pool3dDims d, bool backward) {
  if (!have_gpu(state)) return;
  if (!kernels::cudnn_available()) {
    state.SkipWithError(kernels::cudnn_description().c_str());
    return;
  }
  const kernels::CudnnPool3d cudnn(d);
  const long nx = d.batch * d.in_size(), ny = d.batch * d.out_size();
  const auto& pool = RandomPool::get();
  DeviceArray<float> y(ny), dx(nx);
  DeviceArray<int32_t> arg(ny);
  const double f = sizeof(float);
  const int sets = sets_for(f * (backward ? ny : nx));
  // The argmax the backward pass reads comes from a real forward pass over set 0's input.
  kernels::pool3d_forward_cuda(d, pool.view(nx, 0, 0), y.p, arg.p);
  std::function<void(int)> ours, base;
  Work work{0, 0};
  if (!backward) {
    work.bytes = f * (nx + ny) + 4.0 * ny;
    ours = [&](int i) { kernels::pool3d_forward_cuda(d, pool.view(nx, 0, i % sets), y.p, arg.p); };
    base = [&](int i) { cudnn.forward(pool.view(nx, 0, i % sets), y.p); };
  } else {
    work.bytes = f * (ny + nx) + 4.0 * ny;
    ours = [&](int i) {
      kernels::pool3d_backward_cuda(d, pool.view(ny, 1, i % sets), arg.p, dx.p);
    };
    // cuDNN's backward also reads x and y (it recomputes the winners).
    base = [&](int i) {
      cudnn.backward(pool.view(nx, 0, 0), y.p, pool.view(ny, 1, i % sets), dx.p);
    };
  }
  measure(state, ours, base, work);
}

// --- linear ----------------------------------------------------------------------------------

// ours: linear_*_cuda (cuBLAS + bias / bias-gradient kernels); baseline: the bare cuBLAS GEMM.
void BM_Linear(benchmark::State& state, int M, int N, int K, Pass pass, CudaMath math) {
  if (!have_gpu(state)) return;
  const auto& pool = RandomPool::get();
  const long nx = long(M) * K, nw = long(N) * K, ny = long(M) * N;
  DeviceArray<float> out(pass == Pass::Forward ? ny : pass == Pass::BackwardInput ? nx : nw + N);
  float* o = out.p;
  const double f = sizeof(float);
  Work work{2.0 * M * N * K, 0};
  int sets = 1;
  std::function<void(int)> ours, base;
  switch (pass) {
    case Pass::Forward:
      sets = sets_for(f * (nx + nw));
      work.bytes = f * (nx + nw + N + ny);
      ours = [&, sets](int i) {
        kernels::linear_forward_cuda(M, N, K, pool.view(nx, 0, i % sets),
                                     pool.view(nw, 1, i % sets), pool.view(N, 2, i % sets), o,
                                     math);
      };
      base = [&, sets](int i) {
        kernels::gemm_cuda(false, true, M, N, K, 1.f, pool.view(nx, 0, i % sets), K,
                           pool.view(nw, 1, i % sets), K, 0.f, o, N, math);
      };
      break;
    case Pass::BackwardInput:
      sets = sets_for(f * (ny + nw));
      work.bytes = f * (ny + nw + nx);
      ours = [&, sets](int i) {
        kernels::linear_backward_input_cuda(M, N, K, pool.view(ny, 0, i % sets),
                                            pool.view(nw, 1, i % sets), o, math);
      };
      base = [&, sets](int i) {
        kernels::gemm_cuda(false, false, M, K, N, 1.f, pool.view(ny, 0, i % sets), N,
                           pool.view(nw, 1, i % sets), K, 0.f, o, K, math);
      };
      break;
    case Pass::BackwardWeight:
      sets = sets_for(f * (nx + ny));
      work.bytes = f * (nx + ny + 2 * (nw + N));
      ours = [&, sets](int i) {
        kernels::linear_backward_weight_cuda(M, N, K, pool.view(nx, 0, i % sets),
                                             pool.view(ny, 1, i % sets), o, o + nw, math);
      };
      base = [&, sets](int i) {
        kernels::gemm_cuda(true, false, N, K, M, 1.f, pool.view(ny, 1, i % sets), N,
                           pool.view(nx, 0, i % sets), K, 1.f, o, K, math);
      };
      break;
  }
  measure(state, ours, base, work);
}

// --- LayerNorm -------------------------------------------------------------------------------

// Baseline: a device-to-device copy of x into y, the bandwidth floor of a pass that reads x
// and writes y.
void BM_LayerNorm(benchmark::State& state, int M, int D, bool backward) {
  if (!have_gpu(state)) return;
  const auto& pool = RandomPool::get();
  const long n = long(M) * D;
  DeviceArray<float> y(n), mean(M), rstd(M), dparams(2L * D);
  const double f = sizeof(float);
  const int sets = sets_for(f * n * (backward ? 2 : 1));
  // Real statistics for the backward pass (rstd from random data, not garbage).
  kernels::layernorm_forward_cuda(M, D, pool.view(n, 0, 0), pool.view(D, 1, 0), pool.view(D, 2, 0),
                                  1e-5f, y.p, mean.p, rstd.p);
  std::function<void(int)> ours, base;
  Work work{0, 0};
  if (!backward) {
    work.bytes = f * (2.0 * n + 2.0 * D + 2.0 * M);
    ours = [&](int i) {
      kernels::layernorm_forward_cuda(M, D, pool.view(n, 0, i % sets), pool.view(D, 1, 0),
                                      pool.view(D, 2, 0), 1e-5f, y.p, mean.p, rstd.p);
    };
  } else {
    work.bytes = f * (3.0 * n + D + 2.0 * M + 4.0 * D);  // x, dy in; dx out; dgamma, dbeta r+w
    ours = [&](int i) {
      kernels::layernorm_backward_cuda(M, D, pool.view(n, 0, 0), pool.view(D, 1, 0), mean.p, rstd.p,
                                       pool.view(n, 3, i % sets), y.p, dparams.p, dparams.p + D);
    };
  }
  base = [&](int i) {
    CUDA_CHECK(cudaMemcpyAsync(y.p, pool.view(n, 0, i % sets), f * n, cudaMemcpyDeviceToDevice));
  };
  measure(state, ours, base, work);
}

// --- registration ----------------------------------------------------------------------------

void register_all() {
  auto reg = [](const std::string& name, auto fn) {
    benchmark::RegisterBenchmark(name.c_str(), fn)->UseManualTime()->Unit(benchmark::kMicrosecond);
  };
  for (const auto& c : testing::net_convs())
    for (int batch : kBatches)
      for (CudaMath math : {CudaMath::FP32, CudaMath::TF32})
        for (Pass pass : {Pass::Forward, Pass::BackwardInput, Pass::BackwardWeight}) {
          kernels::Conv2dDims d = c.d;
          d.batch = batch;
          reg(std::string("Conv2d/") + c.name + "/" + pass_name(pass) + "/" +
                  kernels::cuda_math_name(math) + "/batch:" + std::to_string(batch),
              [d, pass, math](benchmark::State& s) { BM_Conv2d(s, d, pass, math); });
        }
  for (const auto& p : testing::net_pools())
    for (int batch : kBatches)
      for (bool backward : {false, true}) {
        kernels::Pool3dDims d = p.d;
        d.batch = batch;
        reg(std::string("Pool3d/") + p.name + (backward ? "/bwd" : "/fwd") +
                "/batch:" + std::to_string(batch),
            [d, backward](benchmark::State& s) { BM_Pool3d(s, d, backward); });
      }
  for (const auto& l : testing::net_linears())
    for (int batch : kBatches)
      for (CudaMath math : {CudaMath::FP32, CudaMath::TF32})
        for (Pass pass : {Pass::Forward, Pass::BackwardInput, Pass::BackwardWeight}) {
          const int N = l.out, K = l.in;
          reg(std::string("Linear/") + l.name + "/" + pass_name(pass) + "/" +
                  kernels::cuda_math_name(math) + "/batch:" + std::to_string(batch),
              [batch, N, K, pass, math](benchmark::State& s) {
                BM_Linear(s, batch, N, K, pass, math);
              });
        }
  for (int D : testing::net_layernorm_widths())
    for (int batch : kBatches)
      for (bool backward : {false, true})
        reg(std::string("LayerNorm/D:") + std::to_string(D) + (backward ? "/bwd" : "/fwd") +
                "/batch:" + std::to_string(batch),
            [batch, D, backward](benchmark::State& s) { BM_LayerNorm(s, batch, D, backward); });
}

}  // namespace
}  // namespace relmimic

int main(int argc, char** argv) {
  relmimic::register_all();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::AddCustomContext("cuda_device", relmimic::kernels::cuda_device_description(0));
  benchmark::AddCustomContext("cudnn", relmimic::kernels::cudnn_description());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
