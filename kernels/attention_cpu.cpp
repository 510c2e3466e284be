// CPU reference of the relational block's attention core: per sample, the N x N products go
// through OpenBLAS and the row-wise softmax passes are plain loops; OpenMP runs over the batch.
//
// Per sample (row-major matrices, Th = theta [C', N], Ph = phi, G = g, Y = y, all [C', N]):
//   forward       S = Th^T Ph, A = softmax_rows(S), Y = G A^T
//   backward      dG = dY A, dA = dY^T G, dS = A (.) (dA - rowsum(A (.) dA)),
//                 dTh = Ph dS^T, dPh = Th dS
//   jvp           S' = Th'^T Ph + Th^T Ph', A' = A (.) (S' - rowsum(A (.) S')),
//                 Y' = G A'^T + G' A^T
//   backward_jvp  reverse mode through (Y, Y'), see attention_backward_jvp_cpu.

#include <algorithm>
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
// the batch; the plain loop is not vectorised at all without -ffast-math.)
template <class T>
struct Vec64;
template <>
struct Vec64<float> {
  typedef float type __attribute__((vector_size(64)));
};
template <>
struct Vec64<double> {
  typedef double type __attribute__((vector_size(64)));
};

template <class T>
typename Vec64<T>::type load64(const T* p) {
  typename Vec64<T>::type v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

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

// s [n, n] -> softmax of every row, in place. Subtracting the row max keeps exp() <= 1. In
// float the exponentials are exp_nonpositive's, vectorised.
template <class T>
void softmax_rows(int n, T* s) {
  for (int i = 0; i < n; ++i) {
    T* row = s + long(i) * n;
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
}

// The softmax Jacobian J = diag(a) - a a^T is symmetric, so one routine serves both modes:
// v <- A (.) (v - rowsum(A (.) v)), in place (vjp: v = dA -> dS; jvp: v = S' -> A').
template <class T>
void softmax_jacobian_rows(int n, const T* a, T* v) {
  for (int i = 0; i < n; ++i) {
    const T* ar = a + long(i) * n;
    T* vr = v + long(i) * n;
    const T r = row_sum(n, ar, vr);
#pragma omp simd
    for (int j = 0; j < n; ++j) vr[j] = ar[j] * (vr[j] - r);
  }
}

// Writes a_dot = A (.) (s_dot - rowsum(A (.) s_dot)) without touching s_dot.
template <class T>
void softmax_jvp_rows(int n, const T* a, const T* s_dot, T* a_dot) {
  std::copy(s_dot, s_dot + long(n) * n, a_dot);
  softmax_jacobian_rows(n, a, a_dot);
}

// Row-major GEMM shorthands for one sample's [C', N] and [N, N] operands.
// c [C', N] (+)= x [C', N] * m^T or * m, with m [N, N].
template <class T>
void mul_cn_nn(bool trans_m, int c, int n, const T* x, const T* m, T beta, T* out) {
  gemm_cpu<T>(false, trans_m, c, n, n, T(1), x, n, m, n, beta, out, n);
}
// out [N, N] (+)= x^T [N, C'] * z [C', N].
template <class T>
void mul_tn(int c, int n, const T* x, const T* z, T beta, T* out) {
  gemm_cpu<T>(true, false, n, n, c, T(1), x, n, z, n, beta, out, n);
}

}  // namespace

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
    mul_tn(c, n, th, ph, T(0), a);                           // S = Th^T Ph         [N, N]
    softmax_rows(n, a);                                      // A = softmax_rows(S)
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
    mul_tn(c, n, dyb, g + b * qs, T(0), ds);            // dA = dY^T G
    softmax_jacobian_rows(n, a, ds);                    // dS = A (.) (dA - rowsum(A (.) dA))
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
    mul_tn(c, n, t_theta + b * qs, phi + b * qs, T(0), sd);  // S' = Th'^T Ph
    mul_tn(c, n, theta + b * qs, t_phi + b * qs, T(1), sd);  //    + Th^T Ph'
    softmax_jvp_rows(n, a, sd, ad);                          // A' = A (.) (S' - rowsum(A (.) S'))
    mul_cn_nn(true, c, n, g + b * qs, ad, T(0), ty);         // Y' = G A'^T
    mul_cn_nn(true, c, n, t_g + b * qs, a, T(1), ty);        //    + G' A^T
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
    softmax_jvp_rows(n, a, sd, ad);

    mul_cn_nn(false, c, n, dy + o, a, T(0), dg + o);      // dG = dY A
    mul_cn_nn(false, c, n, dt_y + o, ad, T(1), dg + o);   //    + dY' A'
    mul_cn_nn(false, c, n, dt_y + o, a, T(0), dt_g + o);  // dG' = dY' A
    mul_tn(c, n, dt_y + o, g + o, T(0), dad);             // dA' = dY'^T G
    mul_tn(c, n, dy + o, g + o, T(0), da);                // dA = dY^T G
    mul_tn(c, n, dt_y + o, t_g + o, T(1), da);            //    + dY'^T G'

    for (int i = 0; i < n; ++i) {
      const T* ar = a + long(i) * n;
      const T* sr = sd + long(i) * n;
      T* dadr = dad + long(i) * n;
      T* dar = da + long(i) * n;
      T r = 0, q = 0;
      for (int j = 0; j < n; ++j) {
        r += ar[j] * sr[j];
        q += ar[j] * dadr[j];
      }
      for (int j = 0; j < n; ++j) {
        dar[j] += dadr[j] * (sr[j] - r) - q * sr[j];
        dadr[j] = ar[j] * (dadr[j] - q);  // dS'
      }
    }
    softmax_jacobian_rows(n, a, da);  // dS

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
