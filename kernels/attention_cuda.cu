// Fused relational-block attention on the device (flash-style; see kernels/attention.h).
//
// Per sample, S = theta^T phi [N, N] is never stored: each thread owns one query row i (forward,
// backward's dtheta) or one key column j (backward's dphi, dg) and streams the other side through
// shared memory in tiles. C' is at most 32 (C' = 2, 8, 16 in the networks), so one row's
// operands fit in registers and the per-pair work is a few C'-long dot products and one exp:
//   forward   m, l, acc updated online: p_ij = exp(S_ij - m_i), y_i = acc_i / l_i,
//             lse_i = m_i + log l_i
//   backward  p_ij = exp(S_ij - lse_i), dp_ij = dy_i . g_j, ds_ij = p_ij (dp_ij - D_i),
//             D_i = dy_i . y_i;   dtheta_i = sum_j ds_ij phi_j        (row threads)
//             dg_j = sum_i p_ij dy_i,  dphi_j = sum_i ds_ij theta_i    (column threads)
// The backward runs row and column blocks in one launch; each output element has one writer,
// so there are no atomics and the results are deterministic. Scores are kept in base 2
// (theta or phi pre-scaled by log2 e) so every exponential is one exp2.
#include <climits>
#include <cmath>
#include <type_traits>

#include "kernels/attention_cuda_util.cuh"

namespace relmimic::kernels {

namespace {
using namespace attention_cuda;

// One row or column per thread; 128 threads keep 4 blocks per sample at N = 441 and one at N =
// 100, and enough blocks in flight for B >= 128.
constexpr int kThreads = 128;
// Forward: scores per online-softmax rescale (a register array; one rescale per chunk instead of
// one per key).
constexpr int kChunk = 16;
// Keys (or queries) staged per step, [kTile, kC] per operand: 16 KB for two float operands at
// kC = 16. Halved at kC = 32 so that two double tiles stay within 48 KB of static shared memory.
template <int kC>
constexpr int tile_for() {
  return kC <= 16 ? 128 : 64;
}

constexpr double kLog2e = 1.44269504088896340736;
constexpr double kLn2 = 0.69314718055994530942;

__device__ __forceinline__ float ex2(float x) {
  return exp2f(x);
}
__device__ __forceinline__ double ex2(double x) {
  return exp2(x);
}
__device__ __forceinline__ float lg2(float x) {
  return log2f(x);
}
__device__ __forceinline__ double lg2(double x) {
  return log2(x);
}

// Stages columns [j0, j0 + nt) of two [C, N] operands as rows [nt, kC] (zero-padded channels),
// and zero rows [nt, pad_to) so that a chunk running past nt reads zeros, not stale values.
template <class T, int kC>
__device__ void stage_pair(int C, int N, long base, int j0, int nt, int pad_to,
                           const T* __restrict__ x, const T* __restrict__ z, T (*sx)[kC],
                           T (*sz)[kC]) {
  for (int t = threadIdx.x; t < pad_to; t += kThreads) {
    const bool key = t < nt;
#pragma unroll
    for (int c = 0; c < kC; ++c) {
      const bool in = key && c < C;
      sx[t][c] = in ? x[base + long(c) * N + j0 + t] : T(0);
      sz[t][c] = in ? z[base + long(c) * N + j0 + t] : T(0);
    }
  }
}

// grid: B * ceil(N / kThreads) blocks, one query row per thread.
template <class T, int kC>
__global__ void __launch_bounds__(kThreads)
    fused_forward_kernel(int C, int N, int blocks_per_sample, const T* __restrict__ theta,
                         const T* __restrict__ phi, const T* __restrict__ g, T* __restrict__ y,
                         T* __restrict__ lse) {
  constexpr int kTile = tile_for<kC>();
  __shared__ __align__(16) T s_phi[kTile][kC];
  __shared__ __align__(16) T s_g[kTile][kC];
  const int b = blockIdx.x / blocks_per_sample;
  const int i = (blockIdx.x % blocks_per_sample) * kThreads + threadIdx.x;
  const long base = long(b) * C * N;
  const bool active = i < N;

  T q[kC], acc[kC];  // theta_i * log2 e;  sum_j p_ij g_j
#pragma unroll
  for (int c = 0; c < kC; ++c) {
    q[c] = active && c < C ? T(kLog2e) * theta[base + long(c) * N + i] : T(0);
    acc[c] = T(0);
  }
  T m = -INFINITY, l = T(0);  // running max (base 2) and sum of 2^(s - m)

  for (int j0 = 0; j0 < N; j0 += kTile) {
    const int nt = min(kTile, N - j0);
    __syncthreads();  // the previous tile is consumed
    stage_pair<T, kC>(C, N, base, j0, nt, min(kTile, (nt + kChunk - 1) / kChunk * kChunk), phi, g,
                      s_phi, s_g);
    __syncthreads();
    if (!active) continue;
    for (int jc = 0; jc < nt; jc += kChunk) {
      T s[kChunk];
      T cmax = -INFINITY;
#pragma unroll
      for (int k = 0; k < kChunk; ++k) {
        T v = -INFINITY;  // keys past the tile end weigh exp2(-inf) = 0
        if (jc + k < nt) {
          v = T(0);
#pragma unroll
          for (int c = 0; c < kC; ++c) v = fma(q[c], s_phi[jc + k][c], v);
        }
        s[k] = v;
        cmax = fmax(cmax, v);
      }
      const T m_new = fmax(m, cmax);
      const T r = ex2(m - m_new);  // 0 on the first chunk (m = -inf)
      l *= r;
#pragma unroll
      for (int c = 0; c < kC; ++c) acc[c] *= r;
#pragma unroll
      for (int k = 0; k < kChunk; ++k) {
        const T p = ex2(s[k] - m_new);
        l += p;
#pragma unroll
        for (int c = 0; c < kC; ++c) acc[c] = fma(p, s_g[jc + k][c], acc[c]);
      }
      m = m_new;
    }
  }
  if (!active) return;
  const T inv = T(1) / l;  // l >= 1: the max key contributes 2^0
#pragma unroll
  for (int c = 0; c < kC; ++c)
    if (c < C) y[base + long(c) * N + i] = acc[c] * inv;
  lse[long(b) * N + i] = (m + lg2(l)) * T(kLn2);
}

// grid: B * 2 * row_blocks blocks; per sample the first row_blocks own query rows (dtheta), the
// others key columns (dphi, dg). The role is uniform per block, so the barriers are too.
template <class T, int kC>
__global__ void __launch_bounds__(kThreads)
    fused_backward_kernel(int C, int N, int row_blocks, const T* __restrict__ theta,
                          const T* __restrict__ phi, const T* __restrict__ g,
                          const T* __restrict__ y, const T* __restrict__ lse,
                          const T* __restrict__ dy, T* __restrict__ dtheta, T* __restrict__ dphi,
                          T* __restrict__ dg) {
  constexpr int kTile = tile_for<kC>();
  __shared__ __align__(16) T s_a[kTile][kC];  // rows: phi_j     columns: theta_i
  __shared__ __align__(16) T s_b[kTile][kC];  // rows: g_j       columns: dy_i
  __shared__ T s_lse[kTile];                  //                 columns: lse_i * log2 e
  __shared__ T s_D[kTile];                    //                 columns: D_i
  const int per_sample = 2 * row_blocks;
  const int b = blockIdx.x / per_sample;
  const int r = blockIdx.x % per_sample;
  const long base = long(b) * C * N;
  const T* lse_b = lse + long(b) * N;

  if (r < row_blocks) {
    // ---- query row i: dtheta_i = sum_j p_ij (dp_ij - D_i) phi_j
    const int i = r * kThreads + threadIdx.x;
    const bool active = i < N;
    T q[kC], o[kC], dq[kC];  // theta_i * log2 e, dy_i, dtheta_i
    T D = T(0);
#pragma unroll
    for (int c = 0; c < kC; ++c) {
      const bool in = active && c < C;
      const long at = base + long(c) * N + i;
      q[c] = in ? T(kLog2e) * theta[at] : T(0);
      o[c] = in ? dy[at] : T(0);
      D = in ? fma(o[c], y[at], D) : D;
      dq[c] = T(0);
    }
    const T l2 = active ? T(kLog2e) * lse_b[i] : T(0);
    for (int j0 = 0; j0 < N; j0 += kTile) {
      const int nt = min(kTile, N - j0);
      __syncthreads();
      stage_pair<T, kC>(C, N, base, j0, nt, nt, phi, g, s_a, s_b);
      __syncthreads();
      if (!active) continue;
#pragma unroll 4
      for (int j = 0; j < nt; ++j) {
        T s = T(0), dp = T(0);
#pragma unroll
        for (int c = 0; c < kC; ++c) {
          s = fma(q[c], s_a[j][c], s);
          dp = fma(o[c], s_b[j][c], dp);
        }
        const T ds = ex2(s - l2) * (dp - D);
#pragma unroll
        for (int c = 0; c < kC; ++c) dq[c] = fma(ds, s_a[j][c], dq[c]);
      }
    }
    if (!active) return;
#pragma unroll
    for (int c = 0; c < kC; ++c)
      if (c < C) dtheta[base + long(c) * N + i] = dq[c];
    return;
  }

  // ---- key column j: dg_j = sum_i p_ij dy_i,  dphi_j = sum_i p_ij (dp_ij - D_i) theta_i
  const int j = (r - row_blocks) * kThreads + threadIdx.x;
  const bool active = j < N;
  T k2[kC], v[kC], dk[kC], dv[kC];  // phi_j * log2 e, g_j, dphi_j, dg_j
#pragma unroll
  for (int c = 0; c < kC; ++c) {
    const bool in = active && c < C;
    const long at = base + long(c) * N + j;
    k2[c] = in ? T(kLog2e) * phi[at] : T(0);
    v[c] = in ? g[at] : T(0);
    dk[c] = dv[c] = T(0);
  }
  for (int i0 = 0; i0 < N; i0 += kTile) {
    const int nt = min(kTile, N - i0);
    __syncthreads();
    stage_pair<T, kC>(C, N, base, i0, nt, nt, theta, dy, s_a, s_b);
    for (int t = threadIdx.x; t < nt; t += kThreads) {  // the rows this thread just staged
      T D = T(0);
      for (int c = 0; c < C; ++c) D = fma(s_b[t][c], y[base + long(c) * N + i0 + t], D);
      s_D[t] = D;
      s_lse[t] = T(kLog2e) * lse_b[i0 + t];
    }
    __syncthreads();
    if (!active) continue;
#pragma unroll 4
    for (int i = 0; i < nt; ++i) {
      T s = T(0), dp = T(0);
#pragma unroll
      for (int c = 0; c < kC; ++c) {
        s = fma(s_a[i][c], k2[c], s);
        dp = fma(s_b[i][c], v[c], dp);
      }
      const T p = ex2(s - s_lse[i]);
      const T ds = p * (dp - s_D[i]);
#pragma unroll
      for (int c = 0; c < kC; ++c) {
        dv[c] = fma(p, s_b[i][c], dv[c]);
        dk[c] = fma(ds, s_a[i][c], dk[c]);
      }
    }
  }
  if (!active) return;
#pragma unroll
  for (int c = 0; c < kC; ++c) {
    if (c < C) {
      dphi[base + long(c) * N + j] = dk[c];
      dg[base + long(c) * N + j] = dv[c];
    }
  }
}

// Calls f(std::integral_constant<int, kC>) with the smallest register width kC >= C'.
template <class F>
void dispatch_channels(int channels, const char* who, F&& f) {
  if (channels <= 2)
    f(std::integral_constant<int, 2>());
  else if (channels <= 4)
    f(std::integral_constant<int, 4>());
  else if (channels <= 8)
    f(std::integral_constant<int, 8>());
  else if (channels <= 16)
    f(std::integral_constant<int, 16>());
  else if (channels <= kAttentionFusedMaxChannels)
    f(std::integral_constant<int, 32>());
  else
    RM_FAIL(who, ": the fused path takes C' <= ", kAttentionFusedMaxChannels,
            ", got C' = ", channels, " (use AttentionPath::Unfused)");
}

unsigned grid_for(const AttentionDims& d, int blocks_per_sample, const char* who) {
  const long blocks = long(d.batch) * blocks_per_sample;
  RM_CHECK(blocks <= INT_MAX, who, ": batch=", d.batch, " needs ", blocks,
           " blocks, more than one launch takes");
  return unsigned(blocks);
}

template <class T>
void forward_fused(const AttentionDims& d, const T* theta, const T* phi, const T* g, T* y, T* lse,
                   Stream stream) {
  const char* who = "attention_forward_cuda (fused)";
  const int per_sample = (d.positions + kThreads - 1) / kThreads;
  const unsigned grid = grid_for(d, per_sample, who);
  dispatch_channels(d.channels, who, [&](auto kc) {
    fused_forward_kernel<T, decltype(kc)::value>
        <<<grid, kThreads, 0, stream>>>(d.channels, d.positions, per_sample, theta, phi, g, y, lse);
    CUDA_CHECK_LAUNCH();
  });
}

template <class T>
void backward_fused(const AttentionDims& d, const T* theta, const T* phi, const T* g, const T* y,
                    const T* lse, const T* dy, T* dtheta, T* dphi, T* dg, Stream stream) {
  const char* who = "attention_backward_cuda (fused)";
  const int row_blocks = (d.positions + kThreads - 1) / kThreads;
  const unsigned grid = grid_for(d, 2 * row_blocks, who);
  dispatch_channels(d.channels, who, [&](auto kc) {
    fused_backward_kernel<T, decltype(kc)::value><<<grid, kThreads, 0, stream>>>(
        d.channels, d.positions, row_blocks, theta, phi, g, y, lse, dy, dtheta, dphi, dg);
    CUDA_CHECK_LAUNCH();
  });
}

}  // namespace

template <class T>
void attention_forward_cuda(AttentionPath path, const AttentionDims& d, const T* theta,
                            const T* phi, const T* g, T* y, T* lse, T* attn, Stream stream) {
  check_dims(d, "attention_forward_cuda");
  if (path == AttentionPath::Fused) {
    check_ptrs("attention_forward_cuda (fused)", {theta, phi, g, y, lse});
    forward_fused(d, theta, phi, g, y, lse, stream);
  } else {
    check_ptrs("attention_forward_cuda (unfused)", {theta, phi, g, y, lse, attn});
    attention_cuda::forward_unfused(d, theta, phi, g, y, lse, attn, stream);
  }
}

template <class T>
void attention_backward_cuda(AttentionPath path, const AttentionDims& d, const T* theta,
                             const T* phi, const T* g, const T* y, const T* lse, const T* attn,
                             const T* dy, T* dtheta, T* dphi, T* dg, T* work, Stream stream) {
  check_dims(d, "attention_backward_cuda");
  if (path == AttentionPath::Fused) {
    check_ptrs("attention_backward_cuda (fused)", {theta, phi, g, y, lse, dy, dtheta, dphi, dg});
    backward_fused(d, theta, phi, g, y, lse, dy, dtheta, dphi, dg, stream);
  } else {
    check_ptrs("attention_backward_cuda (unfused)",
               {theta, phi, g, attn, dy, dtheta, dphi, dg, work});
    attention_cuda::backward_unfused(d, theta, phi, g, attn, dy, dtheta, dphi, dg, work, stream);
  }
}

#define RELMIMIC_ATTENTION_CUDA(T)                                                                 \
  template void attention_forward_cuda<T>(AttentionPath, const AttentionDims&, const T*, const T*, \
                                          const T*, T*, T*, T*, Stream);                           \
  template void attention_backward_cuda<T>(AttentionPath, const AttentionDims&, const T*,          \
                                           const T*, const T*, const T*, const T*, const T*,       \
                                           const T*, T*, T*, T*, T*, Stream);
RELMIMIC_ATTENTION_CUDA(float)
RELMIMIC_ATTENTION_CUDA(double)
#undef RELMIMIC_ATTENTION_CUDA

}  // namespace relmimic::kernels
