// 1x1 stride-1 unpadded convolutions on the CPU without im2col or GEMM (kernels/conv2d.h,
// detail::pointwise_*). Per sample they are products of a small matrix with the [C, N] map:
//   forward:         y_b[Cout, N] = W[Cout, Cin] x_b[Cin, N] + b
//   backward_input:  dx_b[Cin, N] = W^T dy_b
//   backward_weight: dW += sum_b dy_b x_b^T,  db += sum_{b,n} dy_b
// With 2-16 channels on one side (the relational blocks' theta/phi/g and output convs, the agent
// ResBlocks' 1x1 convs) a GEMM spends its time packing and the group im2col copies x; here 8
// output rows x 2 vectors of positions (fewer rows: 4 vectors) stay in registers while the
// reduction streams through the map, samples spread over OpenMP threads.
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <type_traits>
#include <vector>

#include "kernels/common.h"
#include "kernels/conv2d.h"
#include "kernels/parallel_cpu.h"
#include "kernels/vec64_cpu.h"

namespace relmimic::kernels::detail {

namespace {

template <class T>
using V = typename Vec64<T>::type;
template <class T>
constexpr int kLanes = int(64 / sizeof(T));
template <class T>
inline V<T> load(const T* p) {
  return load64(p);
}
template <class T>
inline void store(T* p, V<T> v) {
  store64(p, v);
}
template <class T>
inline V<T> splat(T s) {
  return V<T>{} + s;
}
template <class T>
inline T hsum(V<T> v) {
  T s = T(0);
  for (int l = 0; l < kLanes<T>; ++l) s += v[l];
  return s;
}

// out[r, n0 .. n0 + NV*L) = init[r] + sum_k a[r * ars + k * acs] x[k * ldx + n0 ..], r < R: R*NV
// accumulators in registers, one vector load of x per (k, vector) shared by the R rows.
template <int R, int NV, class T>
inline void block(int K, const T* a, long ars, long acs, const T* x, long ldx, const T* init,
                  T* out, long ldo) {
  constexpr int L = kLanes<T>;
  V<T> acc[R][NV];
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < NV; ++v) acc[r][v] = splat<T>(init ? init[r] : T(0));
  for (int k = 0; k < K; ++k) {
    V<T> xv[NV];
    for (int v = 0; v < NV; ++v) xv[v] = load(x + k * ldx + v * L);
    for (int r = 0; r < R; ++r) {
      const V<T> ar = splat<T>(a[r * ars + k * acs]);
      for (int v = 0; v < NV; ++v) acc[r][v] += ar * xv[v];
    }
  }
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < NV; ++v) store(out + r * ldo + v * L, acc[r][v]);
}

// Rows [r0, r0 + R) of out over positions [0, N): blocks of NV vectors, then single vectors; the
// last partial vector reads xt (the map's last columns, zero-padded to L) and writes through a
// buffer.
template <int R, int NV, class T>
void row_block(int K, int N, const T* a, long ars, long acs, const T* x, const T* xt, const T* init,
               T* out) {
  constexpr int L = kLanes<T>;
  int n = 0;
  for (; n + NV * L <= N; n += NV * L) block<R, NV>(K, a, ars, acs, x + n, N, init, out + n, N);
  for (; n + L <= N; n += L) block<R, 1>(K, a, ars, acs, x + n, N, init, out + n, N);
  if (n < N) {
    T tail[R * L];
    block<R, 1>(K, a, ars, acs, xt, L, init, tail, L);
    for (int r = 0; r < R; ++r) std::memcpy(out + r * N + n, tail + r * L, sizeof(T) * (N - n));
  }
}

// out[M, N] = A x (+ init per row), A[r, k] = a[r * ars + k * acs], x [K, N]: one sample. Blocks
// of 8 rows x 2 vectors (16 accumulators: enough independent multiply-adds to hide their
// latency also on maps of a few vectors), the last rows in 4, 2 and 1.
template <class T>
void matmul_map(int M, int K, int N, const T* a, long ars, long acs, const T* x, const T* init,
                T* out, std::vector<T>& xt_buf) {
  constexpr int L = kLanes<T>;
  const int tail = N % L;
  const T* xt = nullptr;
  if (tail) {
    xt_buf.assign(size_t(K) * L, T(0));
    for (int k = 0; k < K; ++k)
      std::memcpy(xt_buf.data() + size_t(k) * L, x + long(k) * N + (N - tail), sizeof(T) * tail);
    xt = xt_buf.data();
  }
  auto rows = [&](auto r_const, auto nv_const, int r) {
    constexpr int R = decltype(r_const)::value, NV = decltype(nv_const)::value;
    row_block<R, NV>(K, N, a + r * ars, ars, acs, x, xt, init ? init + r : nullptr,
                     out + long(r) * N);
  };
  using I1 = std::integral_constant<int, 1>;
  using I2 = std::integral_constant<int, 2>;
  using I4 = std::integral_constant<int, 4>;
  using I8 = std::integral_constant<int, 8>;
  int r = 0;
  for (; r + 8 <= M; r += 8) rows(I8{}, I2{}, r);
  if (r + 4 <= M) {
    rows(I4{}, I4{}, r);
    r += 4;
  }
  if (r + 2 <= M) {
    rows(I2{}, I4{}, r);
    r += 2;
  }
  if (r < M) rows(I1{}, I4{}, r);
}

// Samples split over the team when the work pays for the fork.
template <class F>
void each_sample(const Conv2dDims& d, F&& body) {
  const int threads = cpu_threads(double(d.batch) * d.out_size() * d.in_c);
  for_each_index(threads > 1 && d.batch > 1, d.batch, body);
}

}  // namespace

namespace {
std::atomic<int> g_max_channels{kPointwiseDirectMaxChannels};
}  // namespace

void set_pointwise_direct_max_channels(int channels) {
  g_max_channels.store(channels < 0 ? kPointwiseDirectMaxChannels : channels,
                       std::memory_order_relaxed);
}

bool pointwise_direct(const Conv2dDims& d, bool backward_input) {
  return d.kh == 1 && d.kw == 1 && d.stride == 1 && d.pad == 0 && !d.blocked_in && !d.blocked_out &&
         d.in_h * d.in_w < kPointwiseDirectMaxPositions &&
         (backward_input || d.out_c <= kPointwiseDirectMaxOutChannels) &&
         std::min(d.in_c, d.out_c) <= g_max_channels.load(std::memory_order_relaxed);
}

template <class T>
void pointwise_forward_cpu(const Conv2dDims& d, const T* x, const T* w, const T* b, T* y) {
  const int N = d.in_h * d.in_w;
  each_sample(d, [&](int s) {
    thread_local std::vector<T> xt;
    matmul_map(d.out_c, d.in_c, N, w, d.in_c, 1, x + s * d.in_size(), b, y + s * d.out_size(), xt);
  });
}

template <class T>
void pointwise_backward_input_cpu(const Conv2dDims& d, const T* dy, const T* w, T* dx) {
  const int N = d.in_h * d.in_w;
  each_sample(d, [&](int s) {
    thread_local std::vector<T> xt;
    matmul_map(d.in_c, d.out_c, N, w, 1, d.in_c, dy + s * d.out_size(), static_cast<T*>(nullptr),
               dx + s * d.in_size(), xt);
  });
}

namespace {
// acc[co][ci] (vectors) += dy_b[co, :] . x_b[ci, :] over samples [b0, b1), 4 x 4 blocks in
// registers across groups of kGroup samples (one read-modify-write of acc per block and group);
// gacc[co] += dy_b[co, :] when gacc. Whole vectors are read in place, the last partial one of
// each row from zero-padded copies.
constexpr int kGroup = 8;
template <class T>
void weight_partials(const Conv2dDims& d, const T* x, const T* dy, int b0, int b1, V<T>* acc,
                     V<T>* gacc) {
  constexpr int L = kLanes<T>;
  const int N = d.in_h * d.in_w, C = d.out_c, K = d.in_c;
  const int full = N / L, tail = N % L;
  thread_local std::vector<T> xt, gt;
  xt.assign(size_t(kGroup) * K * L, T(0));
  gt.assign(size_t(kGroup) * C * L, T(0));
  for (int s0 = b0; s0 < b1; s0 += kGroup) {
    const int ns = std::min(kGroup, b1 - s0);
    if (tail)
      for (int j = 0; j < ns; ++j) {
        const T* xb = x + (s0 + j) * d.in_size();
        const T* gb = dy + (s0 + j) * d.out_size();
        for (int k = 0; k < K; ++k)
          std::memcpy(&xt[(size_t(j) * K + k) * L], xb + long(k) * N + full * L, sizeof(T) * tail);
        for (int c = 0; c < C; ++c)
          std::memcpy(&gt[(size_t(j) * C + c) * L], gb + long(c) * N + full * L, sizeof(T) * tail);
      }
    for (int c0 = 0; c0 < C; c0 += 4) {
      const int rc = std::min(4, C - c0);
      for (int k0 = 0; k0 < K; k0 += 4) {
        const int rk = std::min(4, K - k0);
        V<T> a[4][4] = {};
        auto step = [&](const T* gp, long gs, const T* xp, long xs) {
          V<T> gv[4], xv[4];
          for (int i = 0; i < 4; ++i) {
            gv[i] = i < rc ? load(gp + i * gs) : V<T>{};
            xv[i] = i < rk ? load(xp + i * xs) : V<T>{};
          }
          for (int i = 0; i < 4; ++i)
            for (int j = 0; j < 4; ++j) a[i][j] += gv[i] * xv[j];
        };
        for (int j = 0; j < ns; ++j) {
          const T* gb = dy + (s0 + j) * d.out_size() + long(c0) * N;
          const T* xb = x + (s0 + j) * d.in_size() + long(k0) * N;
          for (int v = 0; v < full; ++v) step(gb + v * L, N, xb + v * L, N);
          if (tail) step(&gt[(size_t(j) * C + c0) * L], L, &xt[(size_t(j) * K + k0) * L], L);
        }
        for (int i = 0; i < rc; ++i)
          for (int j = 0; j < rk; ++j) acc[long(c0 + i) * K + k0 + j] += a[i][j];
      }
      if (gacc)
        for (int i = 0; i < rc; ++i) {
          V<T> g{};
          for (int j = 0; j < ns; ++j) {
            const T* gb = dy + (s0 + j) * d.out_size() + long(c0 + i) * N;
            for (int v = 0; v < full; ++v) g += load(gb + v * L);
            if (tail) g += load(&gt[(size_t(j) * C + c0 + i) * L]);
          }
          gacc[c0 + i] += g;
        }
    }
  }
}
}  // namespace

template <class T>
void pointwise_backward_weight_cpu(const Conv2dDims& d, const T* x, const T* dy, T* dw, T* db) {
  const int C = d.out_c, K = d.in_c;
  const long wsize = long(C) * K, size = wsize + C;
  const int team = cpu_threads(double(d.batch) * d.out_size() * d.in_c);
  const int threads = std::min(team, d.batch);
  // Thread t's vector partials for its contiguous share of the samples (rows t * size of one
  // buffer held by the calling thread), added to dw and db in thread order afterwards: the same
  // bits for a given thread count.
  // (A thread_local named inside the parallel region would be each worker's own: take the
  // caller's buffer by pointer.)
  thread_local std::vector<V<T>> buffer;
  buffer.assign(size_t(std::max(threads, 1)) * size_t(size), V<T>{});
  V<T>* const parts = buffer.data();
  auto run = [&](int t, int n) {
    V<T>* mine = parts + long(t) * size;
    const int b0 = int(long(d.batch) * t / n), b1 = int(long(d.batch) * (t + 1) / n);
    weight_partials(d, x, dy, b0, b1, mine, db ? mine + wsize : nullptr);
  };
  auto reduce = [&](long i0, long i1, int n) {
    for (long i = i0; i < i1; ++i) {
      T s = T(0);
      for (int t = 0; t < n; ++t) s += hsum<T>(parts[long(t) * size + i]);
      if (i < wsize)
        dw[i] += s;
      else if (db)
        db[i - wsize] += s;
    }
  };
  if (threads <= 1) {
    run(0, 1);
    reduce(0, size, 1);
    return;
  }
#pragma omp parallel num_threads(threads)
  {
    const int t = omp_get_thread_num(), n = omp_get_num_threads();
    run(t, n);
#pragma omp barrier
    reduce(size * t / n, size * (t + 1) / n, n);
  }
}

template void pointwise_forward_cpu<float>(const Conv2dDims&, const float*, const float*,
                                           const float*, float*);
template void pointwise_forward_cpu<double>(const Conv2dDims&, const double*, const double*,
                                            const double*, double*);
template void pointwise_backward_input_cpu<float>(const Conv2dDims&, const float*, const float*,
                                                  float*);
template void pointwise_backward_input_cpu<double>(const Conv2dDims&, const double*, const double*,
                                                   double*);
template void pointwise_backward_weight_cpu<float>(const Conv2dDims&, const float*, const float*,
                                                   float*, float*);
template void pointwise_backward_weight_cpu<double>(const Conv2dDims&, const double*, const double*,
                                                    double*, double*);

}  // namespace relmimic::kernels::detail
