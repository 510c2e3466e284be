// Host emulation of the nvcuda::wmma subset the conv kernel uses (see cuda_runtime.h). On a GPU
// a fragment is spread over the 32 threads of a warp; here every thread holds the whole tile
// (num_elements = rows x columns), so element-wise loops over x[] and the loads, stores and
// products give the same tile. TF32 products are exact in float after __float_to_tf32, and the
// accumulation is float, in k order.
#pragma once
#include "cublas_v2.h"
#include "cuda_runtime.h"

namespace nvcuda::wmma {
struct matrix_a {};
struct matrix_b {};
struct accumulator {};
struct row_major {};
struct col_major {};
namespace precision {
struct tf32 {};
}  // namespace precision
enum layout_t { mem_row_major, mem_col_major };

template <class Use, int M, int N, int K, class T = void, class Layout = void>
struct fragment {
  static constexpr int rows = std::is_same_v<Use, matrix_b> ? K : M;
  static constexpr int cols = std::is_same_v<Use, matrix_a> ? K : N;
  static constexpr int num_elements = rows * cols;
  float x[num_elements];  // row-major (row, column) of the tile
};

inline float __float_to_tf32(float v) {
  return emu::round_tf32(v);
}
template <class Use, int M, int N, int K, class T, class L>
void fill_fragment(fragment<Use, M, N, K, T, L>& f, float v) {
  for (float& e : f.x) e = v;
}
template <class Use, int M, int N, int K, class T, class L>
void load_matrix_sync(fragment<Use, M, N, K, T, L>& f, const float* p, unsigned ldm) {
  using F = fragment<Use, M, N, K, T, L>;
  for (int r = 0; r < F::rows; ++r)
    for (int c = 0; c < F::cols; ++c)
      f.x[r * F::cols + c] =
          std::is_same_v<L, col_major> ? p[r + size_t(c) * ldm] : p[size_t(r) * ldm + c];
}
template <int M, int N, int K, class T>
void store_matrix_sync(float* p, const fragment<accumulator, M, N, K, T, void>& f, unsigned ldm,
                       layout_t layout) {
  for (int r = 0; r < M; ++r)
    for (int c = 0; c < N; ++c)
      (layout == mem_row_major ? p[size_t(r) * ldm + c] : p[r + size_t(c) * ldm]) = f.x[r * N + c];
}
template <int M, int N, int K, class T, class TA, class LA, class TB, class LB>
void mma_sync(fragment<accumulator, M, N, K, T, void>& d,
              const fragment<matrix_a, M, N, K, TA, LA>& a,
              const fragment<matrix_b, M, N, K, TB, LB>& b,
              const fragment<accumulator, M, N, K, T, void>& c) {
  float out[M * N];
  for (int i = 0; i < M; ++i)
    for (int j = 0; j < N; ++j) {
      float s = c.x[i * N + j];
      for (int l = 0; l < K; ++l) s += a.x[i * K + l] * b.x[l * N + j];
      out[i * N + j] = s;
    }
  std::memcpy(d.x, out, sizeof out);
}
}  // namespace nvcuda::wmma
