// CPU reference of the relational block's attention core: per sample, the N x N matrices of
// rank C' (scores, their tangents and gradients) are made four rows at a time from N = 256 on and
// go through the row-wise softmax passes while in L1 (score_rows; one GEMM below that); the
// products with an N x N operand go through OpenBLAS; OpenMP runs over the batch.
//
// Per sample (row-major matrices, Th = theta [C', N], Ph = phi, G = g, Y = y, all [C', N]):
//   forward       S = Th^T Ph, A = softmax of every row of S, Y = G A^T
//   backward      dG = dY A, dA = dY^T G, dS = A (.) (dA - rowsum(A (.) dA)),
//                 dTh = Ph dS^T, dPh = Th dS
//   jvp           S' = Th'^T Ph + Th^T Ph', A' = A (.) (S' - rowsum(A (.) S')),
//                 Y' = G A'^T + G' A^T
//   backward_jvp  reverse mode through (Y, Y'), see attention_backward_jvp_cpu.

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <initializer_list>
#include <type_traits>
#include <vector>

#include "kernels/attention.h"
#include "kernels/common.h"
#include "kernels/fast_exp.h"
#include "kernels/gemm.h"
#include "kernels/parallel_cpu.h"
#include "kernels/vec64_cpu.h"

namespace relmimic::kernels {

// Largest N for which N * N still indexes an int-sized GEMM operand.
constexpr int kMaxAttentionPositions = 46340;

void check_attention_dims(const AttentionDims& d, const char* who) {
  RM_CHECK(d.batch > 0 && d.channels > 0 && d.positions > 0, who,
           ": dimensions must be positive, got batch=", d.batch, " channels=", d.channels,
           " positions=", d.positions);
  RM_CHECK(d.positions <= kMaxAttentionPositions, who, ": positions=", d.positions, " exceeds ",
           kMaxAttentionPositions, " (N*N must fit an int)");
}

namespace {

// The batch loops own the cores: each OpenMP thread runs whole samples (a batch of one, or a call
// inside a parallel region, runs on this thread, and a single sample's GEMMs may split over the
// threads instead). cpu_threads() keeps OpenBLAS on one thread: its own pool inside every call
// would oversubscribe the cores (4x slower at B=128, C'=8, N=441 on 2 cores).
bool batch_parallel(int batch) {
  return batch > 1 && cpu_threads(kParallelWork) > 1;
}

// Per-thread N x N work buffers; they grow to the largest N seen and are then reused.
template <class T>
T* scratch(int slot, long n) {
  thread_local std::vector<T> bufs[3];
  std::vector<T>& b = bufs[slot];
  if (long(b.size()) < n) b.resize(size_t(n));
  return b.data();
}

// Row reductions in an order fixed by n alone: one vector of 64 bytes accumulates lanes
// j mod L, then the lanes and the tail in order. (An `omp simd reduction` may peel to align its
// loads, so its order, and a sample's bits, would follow the row's address, i.e. its place in
// the batch; the plain loop is not vectorised at all without -ffast-math.) Vectors: vec64_cpu.h.

// sum_j x[j] * y[j], or sum_j x[j] without y.
template <class T>
T row_sum(int n, const T* x, const T* y = nullptr) {
  constexpr int L = 64 / sizeof(T);
  typename Vec64<T>::type acc = {};
  int j = 0;
  if (y) {
    for (; j + L <= n; j += L) acc += load64(x + j) * load64(y + j);
  } else {
    for (; j + L <= n; j += L) acc += load64(x + j);
  }
  T s = 0;
  for (int l = 0; l < L; ++l) s += acc[l];
  for (; j < n; ++j) s += y ? x[j] * y[j] : x[j];
  return s;
}

// One row in place: softmax. Subtracting the row max keeps exp() <= 1. In float the
// exponentials are exp_nonpositive's, vectorised.
template <class T>
void softmax_row(int n, T* row) {
  T m = row[0];
#pragma omp simd reduction(max : m)
  for (int j = 1; j < n; ++j) m = m > row[j] ? m : row[j];
  if constexpr (std::is_same_v<T, float>) {
#pragma omp simd
    for (int j = 0; j < n; ++j) row[j] = exp_nonpositive(row[j] - m);
  } else {
    for (int j = 0; j < n; ++j) row[j] = std::exp(row[j] - m);
  }
  const T inv = T(1) / row_sum(n, row);  // the sum is >= 1: exp(0) is in it
#pragma omp simd
  for (int j = 0; j < n; ++j) row[j] *= inv;
}

// The softmax Jacobian J = diag(a) - a a^T is symmetric, so one routine serves both modes:
// v <- a (.) (v - <a, v>) for one row, in place (vjp: v = dA -> dS; jvp: v = S' -> A').
// Returns <a, v> of the v it was given.
template <class T>
T softmax_jacobian_row(int n, const T* a, T* v) {
  const T r = row_sum(n, a, v);
#pragma omp simd
  for (int j = 0; j < n; ++j) v[j] = a[j] * (v[j] - r);
  return r;
}

// Rows [i0, i0 + R) of X^T Z for X, Z [C', N]: out[r][j] (+)= sum_k x[k, i0 + r] z[k, j], k in
// order. It stands in for a GEMM with K = C' for the N x N products: OpenBLAS clears C first and
// then reads it back to add, three passes over a matrix that leaves L2 at N = 441, where this
// writes each row once and the softmax passes that follow find it in L1. R rows share each load
// of z; one vector of each row stays in a register across the k.
template <int R, class T>
void score_rows(int c, int n, int i0, const T* x, const T* z, bool add, T* out) {
  constexpr int L = 64 / sizeof(T);
  constexpr int kBlock = 16;
  using V = typename Vec64<T>::type;
  for (int k0 = 0; k0 < c; k0 += kBlock) {
    const int kn = std::min(kBlock, c - k0);
    T coef[kBlock][R];
    for (int k = 0; k < kn; ++k)
      for (int r = 0; r < R; ++r) coef[k][r] = x[long(k0 + k) * n + i0 + r];
    const T* zb = z + long(k0) * n;
    const bool acc_out = add || k0 > 0;
    int j = 0;
    for (; j + L <= n; j += L) {
      V acc[R];
      for (int r = 0; r < R; ++r) acc[r] = acc_out ? load64(out + long(r) * n + j) : V{};
      for (int k = 0; k < kn; ++k) {
        const V zv = load64(zb + long(k) * n + j);
        for (int r = 0; r < R; ++r) acc[r] += coef[k][r] * zv;
      }
      for (int r = 0; r < R; ++r) std::memcpy(out + long(r) * n + j, &acc[r], sizeof(V));
    }
    for (; j < n; ++j) {
      for (int r = 0; r < R; ++r) {
        T acc = acc_out ? out[long(r) * n + j] : T(0);
        for (int k = 0; k < kn; ++k) acc += coef[k][r] * zb[long(k) * n + j];
        out[long(r) * n + j] = acc;
      }
    }
  }
}

// From kAttentionRowScoresMinPositions positions the rows of an N x N product are made four at
// a time by score_rows; below it the whole product is one GEMM (the matrix fits L2 and OpenBLAS's
// kernels reuse more), then the row passes follow. bench/results/cpu_attention_rows.txt, at
// N = 441 (84x84 frames): backward_jvp 1.24-1.48x, the agent's forward and jvp 1.09-1.35x, the
// other passes within 5 %; at N = 100-144 the rows were up to 30 % slower than the GEMM.
std::atomic<int> row_scores_min_positions{kAttentionRowScoresMinPositions};
constexpr int kScoreRows = 4;

// The sample's rows [0, n) in blocks: block(i0, rows) runs after score(i0, rows) has made rows
// [i0, i0 + rows) of every product it makes (score_block).
template <class Score, class Block>
void row_blocks(int n, Score score, Block block) {
  const int step = n < row_scores_min_positions.load(std::memory_order_relaxed) ? n : kScoreRows;
  for (int i0 = 0; i0 < n; i0 += step) {
    const int rows = std::min(step, n - i0);
    score(i0, rows);
    block(i0, rows);
  }
}

// Rows [i0, i0 + rows) of X^T Z into out (those rows of the N x N product): the whole product
// through OpenBLAS when row_blocks hands all n rows at once, else score_rows.
template <class T>
void score_block(int c, int n, int i0, int rows, const T* x, const T* z, bool add, T* out) {
  if (rows > kScoreRows)
    return gemm_cpu<T>(true, false, n, n, c, T(1), x, n, z, n, add ? T(1) : T(0), out, n);
  if (rows == kScoreRows) return score_rows<kScoreRows>(c, n, i0, x, z, add, out);
  for (int r = 0; r < rows; ++r) score_rows<1>(c, n, i0 + r, x, z, add, out + long(r) * n);
}

// Row-major GEMM shorthand for one sample's [C', N] and [N, N] operands:
// out [C', N] (+)= x [C', N] * m^T or * m, with m [N, N].
template <class T>
void mul_cn_nn(bool trans_m, int c, int n, const T* x, const T* m, T beta, T* out) {
  gemm_cpu<T>(false, trans_m, c, n, n, T(1), x, n, m, n, beta, out, n);
}
}  // namespace

int detail::set_attention_row_scores_min_positions(int n) {
  return row_scores_min_positions.exchange(n);
}

const char* attention_path_name(AttentionPath p) {
  return p == AttentionPath::Fused ? "fused" : "unfused";
}

template <class T>
void attention_forward_cpu(const AttentionDims& d, const T* theta, const T* phi, const T* g, T* y,
                           T* attn) {
  check_attention_dims(d, "attention_forward_cpu");
  check_ptrs("attention_forward_cpu", {theta, phi, g, y, attn});
  const int c = d.channels, n = d.positions;
  const long qs = d.qkv_size(), as = d.attn_size();
  for_each_index(batch_parallel(d.batch), d.batch, [&](int b) {
    const T* th = theta + b * qs;
    const T* ph = phi + b * qs;
    T* a = attn + b * as;
    row_blocks(
        n, [&](int i0, int rows) { score_block(c, n, i0, rows, th, ph, false, a + long(i0) * n); },
        [&](int i0, int rows) {  // S_i = (Th^T Ph)_i -> A_i = softmax(S_i)
          for (int i = i0; i < i0 + rows; ++i) softmax_row(n, a + long(i) * n);
        });
    mul_cn_nn(true, c, n, g + b * qs, a, T(0), y + b * qs);  // Y = G A^T  [C', N]
  });
}

template <class T>
void attention_backward_cpu(const AttentionDims& d, const T* theta, const T* phi, const T* g,
                            const T* attn, const T* dy, T* dtheta, T* dphi, T* dg) {
  check_attention_dims(d, "attention_backward_cpu");
  check_ptrs("attention_backward_cpu", {theta, phi, g, attn, dy, dtheta, dphi, dg});
  const int c = d.channels, n = d.positions;
  const long qs = d.qkv_size(), as = d.attn_size();
  for_each_index(batch_parallel(d.batch), d.batch, [&](int b) {
    const T* a = attn + b * as;
    const T* dyb = dy + b * qs;
    T* ds = scratch<T>(0, as);
    mul_cn_nn(false, c, n, dyb, a, T(0), dg + b * qs);  // dG = dY A
    row_blocks(  // dA_i = (dY^T G)_i -> dS_i = A_i (.) (dA_i - <A_i, dA_i>)
        n,
        [&](int i0, int rows) {
          score_block(c, n, i0, rows, dyb, g + b * qs, false, ds + long(i0) * n);
        },
        [&](int i0, int rows) {
          for (int i = i0; i < i0 + rows; ++i)
            softmax_jacobian_row(n, a + long(i) * n, ds + long(i) * n);
        });
    mul_cn_nn(true, c, n, phi + b * qs, ds, T(0), dtheta + b * qs);   // dTh = Ph dS^T
    mul_cn_nn(false, c, n, theta + b * qs, ds, T(0), dphi + b * qs);  // dPh = Th dS
  });
}

template <class T>
void attention_jvp_cpu(const AttentionDims& d, const T* theta, const T* phi, const T* g,
                       const T* attn, const T* t_theta, const T* t_phi, const T* t_g, T* t_y,
                       T* s_dot) {
  check_attention_dims(d, "attention_jvp_cpu");
  check_ptrs("attention_jvp_cpu", {theta, phi, g, attn, t_theta, t_phi, t_g, t_y, s_dot});
  const int c = d.channels, n = d.positions;
  const long qs = d.qkv_size(), as = d.attn_size();
  for_each_index(batch_parallel(d.batch), d.batch, [&](int b) {
    const T* a = attn + b * as;
    T* sd = s_dot + b * as;
    T* ad = scratch<T>(0, as);
    T* ty = t_y + b * qs;
    row_blocks(
        n,
        [&](int i0, int rows) {  // S'_i = (Th'^T Ph)_i + (Th^T Ph')_i
          score_block(c, n, i0, rows, t_theta + b * qs, phi + b * qs, false, sd + long(i0) * n);
          score_block(c, n, i0, rows, theta + b * qs, t_phi + b * qs, true, sd + long(i0) * n);
        },
        [&](int i0, int rows) {  // A'_i = A_i (.) (S'_i - <A_i, S'_i>)
          std::copy(sd + long(i0) * n, sd + long(i0 + rows) * n, ad + long(i0) * n);
          for (int i = i0; i < i0 + rows; ++i)
            softmax_jacobian_row(n, a + long(i) * n, ad + long(i) * n);
        });
    mul_cn_nn(true, c, n, g + b * qs, ad, T(0), ty);   // Y' = G A'^T
    mul_cn_nn(true, c, n, t_g + b * qs, a, T(1), ty);  //    + G' A^T
  });
}

// Reverse mode through L(Y, Y') with dY = dL/dY and dY' = dL/dY':
//   dG  = dY A + dY' A'                 dG' = dY' A
//   dA' = dY'^T G                       dS' = A (.) (dA' - q),   q_i = rowsum_i(A (.) dA')
//   dA  = dY^T G + dY'^T G' + dA' (.) (S' - r) - q S',           r_i = rowsum_i(A (.) S')
//         (the last two terms: A' = A (.) S' - A (.) r depends on A directly)
//   dS  = A (.) (dA - rowsum(A (.) dA))
//   dTh = Ph dS^T + Ph' dS'^T           dTh' = Ph dS'^T
//   dPh = Th dS + Th' dS'               dPh' = Th dS'
template <class T>
void attention_backward_jvp_cpu(const AttentionDims& d, const T* theta, const T* phi, const T* g,
                                const T* attn, const T* t_theta, const T* t_phi, const T* t_g,
                                const T* s_dot, const T* dy, const T* dt_y, T* dtheta, T* dphi,
                                T* dg, T* dt_theta, T* dt_phi, T* dt_g) {
  check_attention_dims(d, "attention_backward_jvp_cpu");
  check_ptrs("attention_backward_jvp_cpu", {theta, phi, g, attn, t_theta, t_phi, t_g, s_dot, dy,
                                            dt_y, dtheta, dphi, dg, dt_theta, dt_phi, dt_g});
  const int c = d.channels, n = d.positions;
  const long qs = d.qkv_size(), as = d.attn_size();
  for_each_index(batch_parallel(d.batch), d.batch, [&](int b) {
    const long o = b * qs;
    const T* a = attn + b * as;
    const T* sd = s_dot + b * as;
    T* ad = scratch<T>(0, as);   // A'
    T* dad = scratch<T>(1, as);  // dA', then dS'
    T* da = scratch<T>(2, as);   // dA, then dS
    row_blocks(
        n,
        [&](int i0, int rows) {
          score_block(c, n, i0, rows, dt_y + o, g + o, false, dad + long(i0) * n);  // dA'
          score_block(c, n, i0, rows, dy + o, g + o, false, da + long(i0) * n);     // dA
          score_block(c, n, i0, rows, dt_y + o, t_g + o, true, da + long(i0) * n);  //  + dY'^T G'
        },
        [&](int i0, int rows) {
          for (int i = i0; i < i0 + rows; ++i) {
            const T* ar = a + long(i) * n;
            const T* sr = sd + long(i) * n;
            T* adr = ad + long(i) * n;
            T* dadr = dad + long(i) * n;
            T* dar = da + long(i) * n;
            std::copy(sr, sr + n, adr);
            const T r = softmax_jacobian_row(n, ar, adr);  // A'_i, r = <A_i, S'_i>
            const T q = row_sum(n, ar, dadr);
#pragma omp simd
            for (int j = 0; j < n; ++j) {
              dar[j] += dadr[j] * (sr[j] - r) - q * sr[j];
              dadr[j] = ar[j] * (dadr[j] - q);  // dS'_i
            }
            softmax_jacobian_row(n, ar, dar);  // dS_i
          }
        });

    mul_cn_nn(false, c, n, dy + o, a, T(0), dg + o);      // dG = dY A
    mul_cn_nn(false, c, n, dt_y + o, ad, T(1), dg + o);   //    + dY' A'
    mul_cn_nn(false, c, n, dt_y + o, a, T(0), dt_g + o);  // dG' = dY' A

    mul_cn_nn(true, c, n, phi + o, da, T(0), dtheta + o);      // dTh = Ph dS^T
    mul_cn_nn(true, c, n, t_phi + o, dad, T(1), dtheta + o);   //     + Ph' dS'^T
    mul_cn_nn(false, c, n, theta + o, da, T(0), dphi + o);     // dPh = Th dS
    mul_cn_nn(false, c, n, t_theta + o, dad, T(1), dphi + o);  //     + Th' dS'
    mul_cn_nn(true, c, n, phi + o, dad, T(0), dt_theta + o);   // dTh' = Ph dS'^T
    mul_cn_nn(false, c, n, theta + o, dad, T(0), dt_phi + o);  // dPh' = Th dS'
  });
}

#define RELMIMIC_INSTANTIATE_ATTENTION(T)                                                          \
  template void attention_forward_cpu<T>(const AttentionDims&, const T*, const T*, const T*, T*,   \
                                         T*);                                                      \
  template void attention_backward_cpu<T>(const AttentionDims&, const T*, const T*, const T*,      \
                                          const T*, const T*, T*, T*, T*);                         \
  template void attention_jvp_cpu<T>(const AttentionDims&, const T*, const T*, const T*, const T*, \
                                     const T*, const T*, const T*, T*, T*);                        \
  template void attention_backward_jvp_cpu<T>(const AttentionDims&, const T*, const T*, const T*,  \
                                              const T*, const T*, const T*, const T*, const T*,    \
                                              const T*, const T*, T*, T*, T*, T*, T*, T*);

RELMIMIC_INSTANTIATE_ATTENTION(float)
RELMIMIC_INSTANTIATE_ATTENTION(double)
#undef RELMIMIC_INSTANTIATE_ATTENTION

}  // namespace relmimic::kernels
