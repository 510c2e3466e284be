// Deterministic column sums for the CUDA kernels (linear db, LayerNorm dgamma/dbeta):
//   out1[c] += sum_m f(m, c).a,  out2[c] += sum_m f(m, c).b   (out2 may be nullptr)
// Block (32, 32): threadIdx.x picks the column (coalesced rows), threadIdx.y every 32nd row,
// summed in double; the 32 partials are then added in a fixed tree order. No atomics, so the
// result does not depend on timing.
#pragma once

#include "kernels/cuda_check.h"
#include "kernels/cuda_types.h"

namespace relmimic::kernels::colsum {

struct Pair {
  double a, b;
};

template <class T, class F>
__global__ void __launch_bounds__(1024) column_sums_kernel(int M, int D, F f, T* out1, T* out2) {
  __shared__ double sa[32][33], sb[32][33];  // +1: the tree reads a column of partials
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int c = blockIdx.x * 32 + tx;
  double a = 0, b = 0;
  if (c < D) {
#pragma unroll 4
    for (int m = ty; m < M; m += 32) {
      const Pair p = f(m, c);
      a += p.a;
      b += p.b;
    }
  }
  sa[ty][tx] = a;
  sb[ty][tx] = b;
  for (int half = 16; half > 0; half /= 2) {
    __syncthreads();
    if (ty < half) {
      sa[ty][tx] += sa[ty + half][tx];
      sb[ty][tx] += sb[ty + half][tx];
    }
  }
  if (ty == 0 && c < D) {
    out1[c] += T(sa[0][tx]);
    if (out2) out2[c] += T(sb[0][tx]);
  }
}

template <class T, class F>
void column_sums(int M, int D, F f, T* out1, T* out2, Stream stream) {
  if (M <= 0 || D <= 0) return;
  column_sums_kernel<T, F>
      <<<unsigned((D + 31) / 32), dim3(32, 32), 0, stream>>>(M, D, f, out1, out2);
  CUDA_CHECK_LAUNCH();
}

}  // namespace relmimic::kernels::colsum
