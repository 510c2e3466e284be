// Reductions and vector ops on the device (kernels/reduce.h). Sums run in two fixed stages:
// stage 1 gives each of `blocks` blocks (a function of n only) a grid-strided share and writes one
// double partial per block; stage 2, one block, reduces the partials in a fixed tree. The result
// is deterministic and accumulated in double, like the CPU version.
#include <algorithm>
#include <cmath>

#include "kernels/cuda_context.h"
#include "kernels/reduce.h"
#include "kernels/reduce_cuda.cuh"

namespace relmimic::kernels {

namespace cuda_reduce {

double* scratch(Stream stream) {
  return static_cast<double*>(
      cuda_workspace(WorkspaceUse::reduction, kScratchDoubles * sizeof(double), stream));
}

void fetch(double* host, int n, int offset, Stream stream) {
  CUDA_CHECK(cudaMemcpyAsync(host, scratch(stream) + offset, size_t(n) * sizeof(double),
                             cudaMemcpyDeviceToHost, stream));
  CUDA_CHECK(cudaStreamSynchronize(stream));
}

}  // namespace cuda_reduce

namespace {
using namespace cuda_reduce;

constexpr int kElementsPerThread = 8;  // stage-1 work per thread before another block is added

int stage1_blocks(long n) {
  const long per_block = long(kThreads) * kElementsPerThread;
  return int(std::clamp((n + per_block - 1) / per_block, 1L, long(kMaxPartials)));
}

// Terms of the sums: f(i) as a double.
template <class T>
struct Value {
  const T* x;
  __device__ double operator()(long i) const { return double(x[i]); }
};
template <class T>
struct Product {
  const T* x;
  const T* y;
  __device__ double operator()(long i) const { return double(x[i]) * double(y[i]); }
};
template <class T>
struct Square {
  const T* x;
  __device__ double operator()(long i) const { return double(x[i]) * double(x[i]); }
};
template <class T>
struct Abs {
  const T* x;
  __device__ double operator()(long i) const { return fabs(double(x[i])); }
};
template <class T>
struct NotFinite {
  const T* x;
  __device__ double operator()(long i) const { return isfinite(x[i]) ? 0.0 : 1.0; }
};

template <class F, class Op>
__global__ void __launch_bounds__(kThreads) stage1_kernel(long n, F f, Op op, double* partial) {
  double acc = Op::identity;
  for (long i = blockIdx.x * long(kThreads) + threadIdx.x; i < n; i += long(gridDim.x) * kThreads)
    acc = op(acc, f(i));
  acc = block_reduce(acc, op);
  if (threadIdx.x == 0) partial[blockIdx.x] = acc;
}

template <class Op>
__global__ void __launch_bounds__(kThreads)
    stage2_kernel(int parts, Op op, const double* __restrict__ partial, double* __restrict__ out) {
  double acc = Op::identity;
  for (int i = threadIdx.x; i < parts; i += kThreads) acc = op(acc, partial[i]);
  acc = block_reduce(acc, op);
  if (threadIdx.x == 0) *out = acc;
}

// op over f(0..n-1) into *out (device memory); the partials go to scratch().
template <class F, class Op>
void reduce_to_device(long n, F f, Op op, double* out, Stream stream) {
  double* partial = scratch(stream);
  const int blocks = stage1_blocks(n);
  stage1_kernel<<<blocks, kThreads, 0, stream>>>(n, f, op, partial);
  CUDA_CHECK_LAUNCH();
  stage2_kernel<<<1, kThreads, 0, stream>>>(blocks, op, partial, out);
  CUDA_CHECK_LAUNCH();
}

// op over f(0..n-1), returned to the host.
template <class F, class Op>
double reduce(long n, F f, Op op, Stream stream) {
  reduce_to_device(n, f, op, scratch(stream) + kResultSlot, stream);
  double host = 0;
  fetch(&host, 1, kResultSlot, stream);
  return host;
}

void check(long n, const void* x, const char* who) {
  RM_CHECK(n >= 0, who, ": negative size ", n);
  RM_CHECK(x || n == 0, who, ": null input");
}

unsigned elementwise_blocks(long n) {
  return unsigned(std::clamp((n + kThreads - 1) / kThreads, 1L, 65535L * 16));
}

template <class T>
__global__ void axpy_kernel(long n, T a, const T* __restrict__ x, T* __restrict__ y) {
  for (long i = blockIdx.x * long(blockDim.x) + threadIdx.x; i < n;
       i += long(gridDim.x) * blockDim.x)
    y[i] += a * x[i];
}

template <class T>
__global__ void scale_kernel(long n, T a, T* __restrict__ x) {
  for (long i = blockIdx.x * long(blockDim.x) + threadIdx.x; i < n;
       i += long(gridDim.x) * blockDim.x)
    x[i] *= a;
}

// One block per row; the row's sum in double.
template <class T>
__global__ void __launch_bounds__(kThreads)
    row_sum_kernel(int N, const T* __restrict__ x, T* __restrict__ y) {
  const T* row = x + long(blockIdx.x) * N;
  double s = 0;
  for (int i = threadIdx.x; i < N; i += kThreads) s += double(row[i]);
  s = block_reduce(s, Add{});
  if (threadIdx.x == 0) y[blockIdx.x] = T(s);
}

}  // namespace

namespace cuda_reduce {
template <class T>
void dot_to_device(long n, const T* x, const T* y, double* out, Stream stream) {
  reduce_to_device(n, Product<T>{x, y}, Add{}, out, stream);
}
template void dot_to_device<float>(long, const float*, const float*, double*, Stream);
template void dot_to_device<double>(long, const double*, const double*, double*, Stream);
}  // namespace cuda_reduce

template <class T>
double sum_cuda(long n, const T* x, Stream stream) {
  check(n, x, "sum_cuda");
  return reduce(n, Value<T>{x}, Add{}, stream);
}

template <class T>
double dot_cuda(long n, const T* x, const T* y, Stream stream) {
  check(n, x, "dot_cuda");
  check(n, y, "dot_cuda");
  return reduce(n, Product<T>{x, y}, Add{}, stream);
}

template <class T>
double sum_squares_cuda(long n, const T* x, Stream stream) {
  check(n, x, "sum_squares_cuda");
  return reduce(n, Square<T>{x}, Add{}, stream);
}

template <class T>
double max_abs_cuda(long n, const T* x, Stream stream) {
  check(n, x, "max_abs_cuda");
  if (n == 0) return 0.0;  // as the CPU version
  return reduce(n, Abs<T>{x}, MaxNan{}, stream);
}

template <class T>
void axpy_cuda(long n, T a, const T* x, T* y, Stream stream) {
  check(n, x, "axpy_cuda");
  check(n, y, "axpy_cuda");
  if (n == 0) return;
  axpy_kernel<T><<<elementwise_blocks(n), kThreads, 0, stream>>>(n, a, x, y);
  CUDA_CHECK_LAUNCH();
}

template <class T>
void scale_cuda(long n, T a, T* x, Stream stream) {
  check(n, x, "scale_cuda");
  if (n == 0) return;
  scale_kernel<T><<<elementwise_blocks(n), kThreads, 0, stream>>>(n, a, x);
  CUDA_CHECK_LAUNCH();
}

template <class T>
void row_sum_cuda(int M, int N, const T* x, T* y, Stream stream) {
  RM_CHECK(M >= 0 && N >= 0, "row_sum_cuda: negative size M=", M, " N=", N);
  RM_CHECK((x || long(M) * N == 0) && (y || M == 0), "row_sum_cuda: null x or y");
  if (M == 0) return;
  row_sum_kernel<T><<<M, kThreads, 0, stream>>>(N, x, y);
  CUDA_CHECK_LAUNCH();
}

template <class T>
bool all_finite_cuda(long n, const T* x, Stream stream) {
  check(n, x, "all_finite_cuda");
  if (n == 0) return true;
  return reduce(n, NotFinite<T>{x}, Add{}, stream) == 0.0;
}

#define RM_INSTANTIATE(T)                                        \
  template double sum_cuda<T>(long, const T*, Stream);           \
  template double dot_cuda<T>(long, const T*, const T*, Stream); \
  template double sum_squares_cuda<T>(long, const T*, Stream);   \
  template double max_abs_cuda<T>(long, const T*, Stream);       \
  template void axpy_cuda<T>(long, T, const T*, T*, Stream);     \
  template void scale_cuda<T>(long, T, T*, Stream);              \
  template void row_sum_cuda<T>(int, int, const T*, T*, Stream); \
  template bool all_finite_cuda<T>(long, const T*, Stream);
RM_INSTANTIATE(float)
RM_INSTANTIATE(double)
#undef RM_INSTANTIATE

}  // namespace relmimic::kernels
