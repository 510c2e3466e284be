// The cuBLAS baseline of the relational-block attention and its second-order passes: the CPU
// reference's algorithm (kernels/attention_cpu.cpp) on the device, with every per-sample product
// one strided-batched GEMM over the batch and every row-wise step a warp-per-row kernel over
// materialised [B, N, N] matrices. Row-major throughout, as in the CPU code:
//   forward       S = Th^T Ph, A = softmax_rows(S), Y = G A^T
//   backward      dG = dY A, dA = dY^T G, dS = A (.) (dA - rowsum(A (.) dA)),
//                 dTh = Ph dS^T, dPh = Th dS
//   jvp           S' = Th'^T Ph + Th^T Ph', A' = A (.) (S' - rowsum(A (.) S')),
//                 Y' = G A'^T + G' A^T
//   backward_jvp  see attention_backward_jvp_cpu.
#include <algorithm>
#include <cmath>

#include "kernels/attention_cuda_util.cuh"
#include "kernels/cuda_context.h"

namespace relmimic::kernels {

namespace {
using namespace attention_cuda;

constexpr int kRowThreads = 256;  // 8 warps, one row each
constexpr int kRowsPerBlock = kRowThreads / kWarp;

template <class T>
struct BlasType;
template <>
struct BlasType<float> {
  static constexpr cudaDataType_t data = CUDA_R_32F;
  static constexpr cublasComputeType_t compute = CUBLAS_COMPUTE_32F;  // no TF32
};
template <>
struct BlasType<double> {
  static constexpr cudaDataType_t data = CUDA_R_64F;
  static constexpr cublasComputeType_t compute = CUBLAS_COMPUTE_64F;
};

// Row-major C[M,N] = alpha op(A)[M,K] op(B)[K,N] + beta C for `batch` strided triples (gemm_cpu's
// contract). cuBLAS is column-major, where a row-major X is X^T: compute C^T = op(B)^T op(A)^T.
// Full FP32/FP64 compute whatever the shared handle's math mode: the baseline must compute what
// the fused kernels compute. With beta = 0, C is not read (poisoned outputs stay checkable).
template <class T>
void gemm_batched(bool trans_a, bool trans_b, int M, int N, int K, T alpha, const T* A, int lda,
                  long sa, const T* B, int ldb, long sb, T beta, T* C, int ldc, long sc, int batch,
                  Stream stream) {
  using Ty = BlasType<T>;
  CUBLAS_CHECK(cublasGemmStridedBatchedEx(
      cublas_handle(stream), trans_b ? CUBLAS_OP_T : CUBLAS_OP_N,
      trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, N, M, K, &alpha, B, Ty::data, ldb, sb, A, Ty::data, lda,
      sa, &beta, C, Ty::data, ldc, sc, batch, Ty::compute, CUBLAS_GEMM_DEFAULT));
}

// The CPU file's per-sample shorthands, batched: out [C', N] (+)= x [C', N] * m^T or * m with
// m [N, N]; out [N, N] (+)= x^T [N, C'] * z [C', N].
template <class T>
void mul_cn_nn(const AttentionDims& d, bool trans_m, const T* x, const T* m, T beta, T* out,
               Stream stream) {
  const int c = d.channels, n = d.positions;
  gemm_batched<T>(false, trans_m, c, n, n, T(1), x, n, d.qkv_size(), m, n, d.attn_size(), beta, out,
                  n, d.qkv_size(), d.batch, stream);
}
template <class T>
void mul_tn(const AttentionDims& d, const T* x, const T* z, T beta, T* out, Stream stream) {
  const int c = d.channels, n = d.positions;
  gemm_batched<T>(true, false, n, n, c, T(1), x, n, d.qkv_size(), z, n, d.qkv_size(), beta, out, n,
                  d.attn_size(), d.batch, stream);
}

__device__ __forceinline__ float exp_t(float x) {
  return expf(x);
}
__device__ __forceinline__ double exp_t(double x) {
  return exp(x);
}
__device__ __forceinline__ float log_t(float x) {
  return logf(x);
}
__device__ __forceinline__ double log_t(double x) {
  return log(x);
}

// Row index of this warp, or -1 past the end (the whole warp leaves together).
__device__ __forceinline__ long warp_row(long rows) {
  const long r = long(blockIdx.x) * kRowsPerBlock + threadIdx.x / kWarp;
  return r < rows ? r : -1;
}

// s [rows, n] -> softmax of every row in place; lse [rows] = m + log sum exp(s - m).
template <class T>
__global__ void softmax_rows_kernel(long rows, int n, T* __restrict__ s, T* __restrict__ lse) {
  const long r = warp_row(rows);
  if (r < 0) return;
  const int lane = threadIdx.x % kWarp;
  T* x = s + r * n;
  T m = -INFINITY;
  for (int j = lane; j < n; j += kWarp) m = fmax(m, x[j]);
  m = warp_max(m);
  T sum = T(0);
  for (int j = lane; j < n; j += kWarp) {
    const T e = exp_t(x[j] - m);
    x[j] = e;
    sum += e;
  }
  sum = warp_sum(sum);
  const T inv = T(1) / sum;  // sum >= 1: the max element contributes exp(0)
  for (int j = lane; j < n; j += kWarp) x[j] *= inv;
  if (lane == 0) lse[r] = m + log_t(sum);
}

// s [rows, n] = exp(s - lse_row): A from S and the forward's log-sum-exp.
template <class T>
__global__ void probs_kernel(long rows, int n, T* __restrict__ s, const T* __restrict__ lse) {
  const long r = warp_row(rows);
  if (r < 0) return;
  const T l = lse[r];
  T* x = s + r * n;
  for (int j = threadIdx.x % kWarp; j < n; j += kWarp) x[j] = exp_t(x[j] - l);
}

// out = A (.) (v - rowsum(A (.) v)) (the softmax Jacobian, symmetric: vjp and jvp alike);
// out == v allowed.
template <class T>
__global__ void softmax_jacobian_kernel(long rows, int n, const T* __restrict__ a, const T* v,
                                        T* out) {
  const long r = warp_row(rows);
  if (r < 0) return;
  const int lane = threadIdx.x % kWarp;
  const T* ar = a + r * n;
  const T* vr = v + r * n;
  T* outr = out + r * n;
  T dot = T(0);
  for (int j = lane; j < n; j += kWarp) dot = fma(ar[j], vr[j], dot);
  dot = warp_sum(dot);
  for (int j = lane; j < n; j += kWarp) outr[j] = ar[j] * (vr[j] - dot);
}

// backward_jvp's row step (r = rowsum(A (.) S'), q = rowsum(A (.) dA')):
//   dA += dA' (.) (S' - r) - q S',   dA' <- dS' = A (.) (dA' - q)
template <class T>
__global__ void backward_jvp_rows_kernel(long rows, int n, const T* __restrict__ a,
                                         const T* __restrict__ sd, T* __restrict__ dad,
                                         T* __restrict__ da) {
  const long row = warp_row(rows);
  if (row < 0) return;
  const int lane = threadIdx.x % kWarp;
  const long o = row * n;
  T r = T(0), q = T(0);
  for (int j = lane; j < n; j += kWarp) {
    r = fma(a[o + j], sd[o + j], r);
    q = fma(a[o + j], dad[o + j], q);
  }
  r = warp_sum(r);
  q = warp_sum(q);
  for (int j = lane; j < n; j += kWarp) {
    const T s = sd[o + j], t = dad[o + j];
    da[o + j] += t * (s - r) - q * s;
    dad[o + j] = a[o + j] * (t - q);
  }
}

unsigned row_grid(long rows) {
  return unsigned((rows + kRowsPerBlock - 1) / kRowsPerBlock);
}

long total_rows(const AttentionDims& d) {
  return long(d.batch) * d.positions;
}

template <class T>
void softmax_jacobian(const AttentionDims& d, const T* a, const T* v, T* out, Stream stream) {
  const long rows = total_rows(d);
  softmax_jacobian_kernel<T>
      <<<row_grid(rows), kRowThreads, 0, stream>>>(rows, d.positions, a, v, out);
  CUDA_CHECK_LAUNCH();
}

}  // namespace

namespace attention_cuda {

template <class T>
void forward_unfused(const AttentionDims& d, const T* theta, const T* phi, const T* g, T* y, T* lse,
                     T* attn, Stream stream) {
  const long rows = total_rows(d);
  mul_tn(d, theta, phi, T(0), attn, stream);  // S = Th^T Ph
  softmax_rows_kernel<T><<<row_grid(rows), kRowThreads, 0, stream>>>(rows, d.positions, attn, lse);
  CUDA_CHECK_LAUNCH();
  mul_cn_nn(d, true, g, attn, T(0), y, stream);  // Y = G A^T
}

template <class T>
void backward_unfused(const AttentionDims& d, const T* theta, const T* phi, const T* g,
                      const T* attn, const T* dy, T* dtheta, T* dphi, T* dg, T* work,
                      Stream stream) {
  T* ds = work;
  mul_cn_nn(d, false, dy, attn, T(0), dg, stream);     // dG = dY A
  mul_tn(d, dy, g, T(0), ds, stream);                  // dA = dY^T G
  softmax_jacobian(d, attn, ds, ds, stream);           // dS = A (.) (dA - rowsum(A (.) dA))
  mul_cn_nn(d, true, phi, ds, T(0), dtheta, stream);   // dTh = Ph dS^T
  mul_cn_nn(d, false, theta, ds, T(0), dphi, stream);  // dPh = Th dS
}

template void forward_unfused<float>(const AttentionDims&, const float*, const float*, const float*,
                                     float*, float*, float*, Stream);
template void forward_unfused<double>(const AttentionDims&, const double*, const double*,
                                      const double*, double*, double*, double*, Stream);
template void backward_unfused<float>(const AttentionDims&, const float*, const float*,
                                      const float*, const float*, const float*, float*, float*,
                                      float*, float*, Stream);
template void backward_unfused<double>(const AttentionDims&, const double*, const double*,
                                       const double*, const double*, const double*, double*,
                                       double*, double*, double*, Stream);

}  // namespace attention_cuda

template <class T>
void attention_probs_cuda(const AttentionDims& d, const T* theta, const T* phi, const T* lse,
                          T* attn, Stream stream) {
  check_dims(d, "attention_probs_cuda");
  check_ptrs("attention_probs_cuda", {theta, phi, lse, attn});
  const long rows = total_rows(d);
  mul_tn(d, theta, phi, T(0), attn, stream);  // S = Th^T Ph
  probs_kernel<T><<<row_grid(rows), kRowThreads, 0, stream>>>(rows, d.positions, attn, lse);
  CUDA_CHECK_LAUNCH();
}

template <class T>
void attention_jvp_cuda(const AttentionDims& d, const T* theta, const T* phi, const T* g,
                        const T* attn, const T* t_theta, const T* t_phi, const T* t_g, T* t_y,
                        T* s_dot, T* work, Stream stream) {
  check_dims(d, "attention_jvp_cuda");
  check_ptrs("attention_jvp_cuda", {theta, phi, g, attn, t_theta, t_phi, t_g, t_y, s_dot, work});
  T* ad = work;
  mul_tn(d, t_theta, phi, T(0), s_dot, stream);      // S' = Th'^T Ph
  mul_tn(d, theta, t_phi, T(1), s_dot, stream);      //    + Th^T Ph'
  softmax_jacobian(d, attn, s_dot, ad, stream);      // A' = A (.) (S' - rowsum(A (.) S'))
  mul_cn_nn(d, true, g, ad, T(0), t_y, stream);      // Y' = G A'^T
  mul_cn_nn(d, true, t_g, attn, T(1), t_y, stream);  //  + G' A^T
}

template <class T>
void attention_backward_jvp_cuda(const AttentionDims& d, const T* theta, const T* phi, const T* g,
                                 const T* attn, const T* t_theta, const T* t_phi, const T* t_g,
                                 const T* s_dot, const T* dy, const T* dt_y, T* dtheta, T* dphi,
                                 T* dg, T* dt_theta, T* dt_phi, T* dt_g, T* work, Stream stream) {
  check_dims(d, "attention_backward_jvp_cuda");
  check_ptrs("attention_backward_jvp_cuda", {theta, phi, g, attn, t_theta, t_phi, t_g, s_dot, dy,
                                             dt_y, dtheta, dphi, dg, dt_theta, dt_phi, dt_g, work});
  const long as = long(d.batch) * d.attn_size();
  T* ad = work;           // A'
  T* dad = work + as;     // dA', then dS'
  T* da = work + 2 * as;  // dA, then dS
  const long rows = total_rows(d);
  softmax_jacobian(d, attn, s_dot, ad, stream);

  mul_cn_nn(d, false, dy, attn, T(0), dg, stream);      // dG = dY A
  mul_cn_nn(d, false, dt_y, ad, T(1), dg, stream);      //    + dY' A'
  mul_cn_nn(d, false, dt_y, attn, T(0), dt_g, stream);  // dG' = dY' A
  mul_tn(d, dt_y, g, T(0), dad, stream);                // dA' = dY'^T G
  mul_tn(d, dy, g, T(0), da, stream);                   // dA = dY^T G
  mul_tn(d, dt_y, t_g, T(1), da, stream);               //    + dY'^T G'
  backward_jvp_rows_kernel<T>
      <<<row_grid(rows), kRowThreads, 0, stream>>>(rows, d.positions, attn, s_dot, dad, da);
  CUDA_CHECK_LAUNCH();
  softmax_jacobian(d, attn, da, da, stream);  // dS

  mul_cn_nn(d, true, phi, da, T(0), dtheta, stream);      // dTh = Ph dS^T
  mul_cn_nn(d, true, t_phi, dad, T(1), dtheta, stream);   //     + Ph' dS'^T
  mul_cn_nn(d, false, theta, da, T(0), dphi, stream);     // dPh = Th dS
  mul_cn_nn(d, false, t_theta, dad, T(1), dphi, stream);  //     + Th' dS'
  mul_cn_nn(d, true, phi, dad, T(0), dt_theta, stream);   // dTh' = Ph dS'^T
  mul_cn_nn(d, false, theta, dad, T(0), dt_phi, stream);  // dPh' = Th dS'
}

#define RELMIMIC_ATTENTION_UNFUSED(T)                                                              \
  template void attention_probs_cuda<T>(const AttentionDims&, const T*, const T*, const T*, T*,    \
                                        Stream);                                                   \
  template void attention_jvp_cuda<T>(const AttentionDims&, const T*, const T*, const T*,          \
                                      const T*, const T*, const T*, const T*, T*, T*, T*, Stream); \
  template void attention_backward_jvp_cuda<T>(                                                    \
      const AttentionDims&, const T*, const T*, const T*, const T*, const T*, const T*, const T*,  \
      const T*, const T*, const T*, T*, T*, T*, T*, T*, T*, T*, Stream);
RELMIMIC_ATTENTION_UNFUSED(float)
RELMIMIC_ATTENTION_UNFUSED(double)
#undef RELMIMIC_ATTENTION_UNFUSED

}  // namespace relmimic::kernels
