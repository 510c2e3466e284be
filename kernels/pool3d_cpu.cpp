// MaxPool3D on the CPU: each output scans its (kc, kh, kw) window in (c, h, w) order, skipping
// padding; a strictly larger value replaces the best, so the first maximum wins ties.
#include <algorithm>
#include <vector>

#include "kernels/common.h"
#include "kernels/parallel_cpu.h"
#include "kernels/pool3d.h"

namespace relmimic::kernels {

void check_pool3d_dims(const Pool3dDims& d, const char* who) {
  RM_CHECK(d.batch >= 1 && d.c >= 1 && d.h >= 1 && d.w >= 1, who,
           ": sizes must be positive (batch=", d.batch, " c=", d.c, " h=", d.h, " w=", d.w, ")");
  RM_CHECK(d.kc >= 1 && d.kh >= 1 && d.kw >= 1 && d.sc >= 1 && d.sh >= 1 && d.sw >= 1, who,
           ": window (", d.kc, ",", d.kh, ",", d.kw, ") and stride (", d.sc, ",", d.sh, ",", d.sw,
           ") must be positive");
  // pad < window keeps at least one real cell in every window, so a winner always exists.
  RM_CHECK(d.pc >= 0 && d.ph >= 0 && d.pw >= 0 && d.pc < d.kc && d.ph < d.kh && d.pw < d.kw, who,
           ": padding (", d.pc, ",", d.ph, ",", d.pw, ") must be in [0, window)");
  RM_CHECK(d.c + 2 * d.pc >= d.kc && d.h + 2 * d.ph >= d.kh && d.w + 2 * d.pw >= d.kw, who,
           ": window larger than the padded input");
}

namespace {

// [lo, hi) of input indices covered by output o along one axis, clipped to [0, n).
struct Range {
  int lo, hi;
};
inline Range window(int o, int s, int p, int k, int n) {
  const int start = o * s - p;
  return {std::max(start, 0), std::min(start + k, n)};
}

// Outputs o in [lo, hi) whose window cell j (input o*s - p + j) lies inside [0, n).
struct Span {
  int lo, hi;
};
inline Span valid_span(int out, int n, int s, int p, int j) {
  const int a = p - j, b = n - 1 + p - j;  // ceil(a / s) <= o <= floor(b / s)
  const int lo = a <= 0 ? 0 : (a + s - 1) / s;
  const int hi = b < 0 ? 0 : std::min(out, b / s + 1);
  return {std::min(lo, hi), hi};
}

// For outputs o in [lo, hi): v = src[o * s] (flat index base + o * s) replaces (y[o], arg[o])
// when strictly larger. Branch-free through an integer mask, which vectorises without blend
// instructions. v > old is false when either is NaN: a NaN neither wins nor, once it holds the
// best as the window's first cell, loses; the argmax is a real cell either way. A compile-time
// stride turns the strided loads into loads and shuffles.
template <class T>
inline void max_step(T v, int32_t idx, T& y, int32_t& arg) {
  const T old = y;
  const int32_t win = -int32_t(v > old);
  y = v > old ? v : old;
  arg = (idx & win) | (arg & ~win);
}
template <int S, class T>
void max_row(const T* __restrict__ src, int32_t base, int lo, int hi, T* __restrict__ y,
             int32_t* __restrict__ arg) {
  for (int o = lo; o < hi; ++o) max_step(src[o * S], base + o * S, y[o], arg[o]);
}
template <class T>
void max_row(const T* __restrict__ src, int32_t base, int lo, int hi, T* __restrict__ y,
             int32_t* __restrict__ arg, int s) {
  for (int o = lo; o < hi; ++o) max_step(src[o * s], base + o * s, y[o], arg[o]);
}

// Output rows narrower than this go through the table version (bench_conv_cpu's Pool cases).
constexpr int kTableBelowWidth = 32;

}  // namespace

namespace detail {

template <class T>
void pool3d_forward_rows_cpu(const Pool3dDims& dims, const T* x, T* y, int32_t* argmax) {
  // A feature-only pool sees each (h, w) plane as one long row: same flat indices, longer
  // vectors.
  Pool3dDims d = dims;
  if (d.kh == 1 && d.kw == 1 && d.sh == 1 && d.sw == 1 && d.ph == 0 && d.pw == 0) {
    d.w *= d.h;
    d.h = 1;
  }
  const int Co = d.out_c(), Ho = d.out_h(), Wo = d.out_w();
  // Outputs whose window cell j lies inside the row (the others see padding there): the same
  // for every row, so the first kSpanCache are computed once (integer divisions are not free)
  // on the stack (steady-state calls allocate nothing).
  constexpr int kSpanCache = 16;
  Span cache[kSpanCache];
  for (int j = 0; j < std::min(d.kw, kSpanCache); ++j)
    cache[j] = valid_span(Wo, d.w, d.sw, d.pw, j);
  auto span = [&](int j) { return j < kSpanCache ? cache[j] : valid_span(Wo, d.w, d.sw, d.pw, j); };
  const double work = double(d.batch) * d.out_size() * d.kc * d.kh * d.kw;
#pragma omp parallel for schedule(static) if (cpu_threads(work) > 1)
  for (int b = 0; b < d.batch; ++b) {
    const T* xb = x + b * d.in_size();
    for (int oc = 0; oc < Co; ++oc) {
      const Range rc = window(oc, d.sc, d.pc, d.kc, d.c);
      for (int oh = 0; oh < Ho; ++oh) {
        const Range rh = window(oh, d.sh, d.ph, d.kh, d.h);
        // One output row at a time, the window's cells in (c, h, w) order in the outer loops
        // and the outputs innermost: each output still sees its cells in scan order, and the
        // inner loop vectorises.
        const long o = (b * long(Co) + oc) * Ho * Wo + long(oh) * Wo;
        T* yr = y + o;
        int32_t* ar = argmax + o;
        const int32_t first_row = (rc.lo * d.h + rh.lo) * d.w;
        for (int ow = 0; ow < Wo; ++ow) {
          ar[ow] = first_row + window(ow, d.sw, d.pw, d.kw, d.w).lo;
          yr[ow] = xb[ar[ow]];
        }
        for (int c = rc.lo; c < rc.hi; ++c) {
          for (int h = rh.lo; h < rh.hi; ++h) {
            for (int j = 0; j < d.kw; ++j) {
              const Span sp = span(j);
              const int32_t base = (c * d.h + h) * d.w + j - d.pw;  // + ow * sw
              const T* src = xb + base;
              switch (d.sw) {
                case 1:
                  max_row<1>(src, base, sp.lo, sp.hi, yr, ar);
                  break;
                case 2:
                  max_row<2>(src, base, sp.lo, sp.hi, yr, ar);
                  break;
                default:
                  max_row(src, base, sp.lo, sp.hi, yr, ar, d.sw);
              }
            }
          }
        }
      }
    }
  }
}

// The whole (Ho, Wo) output plane of one output channel at a time through a table of in-plane
// offsets: table[(i * kw + j) * P + o] is where output o's spatial window cell (i, j) lies in an
// input plane (P = Ho * Wo). Each window cell is then one vectorised pass over all P outputs
// (gathered loads) instead of Ho short passes. A padded cell's entry points at the window's
// first real cell (rh.lo, rw.lo) of the same plane. Comparing a cell again changes nothing (it
// is never strictly larger than the best that already saw it, and a NaN never is), and a padded
// cell before that first real cell in (h, w) order is followed only by more such cells until
// the real one, so every output still sees the same sequence of distinct cells as in the scan
// order, and the results are those of the row version bit for bit.
template <class T>
void pool3d_forward_table_cpu(const Pool3dDims& d, const T* x, T* y, int32_t* argmax) {
  const int Co = d.out_c(), Ho = d.out_h(), Wo = d.out_w(), P = Ho * Wo, K = d.kh * d.kw;
  const int32_t plane = d.h * d.w;
  // Built on the calling thread, read by the team; the buffers keep their capacity, so
  // steady-state calls allocate nothing.
  static thread_local std::vector<int32_t> table, first;
  table.resize(size_t(K) * size_t(P));
  first.resize(size_t(P));
  for (int oh = 0; oh < Ho; ++oh) {
    const Range rh = window(oh, d.sh, d.ph, d.kh, d.h);
    for (int ow = 0; ow < Wo; ++ow) {
      const Range rw = window(ow, d.sw, d.pw, d.kw, d.w);
      const int o = oh * Wo + ow;
      first[size_t(o)] = rh.lo * d.w + rw.lo;
      for (int i = 0; i < d.kh; ++i)
        for (int j = 0; j < d.kw; ++j) {
          const int h = oh * d.sh - d.ph + i, w = ow * d.sw - d.pw + j;
          const bool real = h >= 0 && h < d.h && w >= 0 && w < d.w;
          table[size_t(i * d.kw + j) * size_t(P) + size_t(o)] =
              real ? h * d.w + w : first[size_t(o)];
        }
    }
  }
  const int32_t* tab = table.data();
  const int32_t* fst = first.data();
  const double work = double(d.batch) * d.out_size() * d.kc * d.kh * d.kw;
#pragma omp parallel for schedule(static) if (cpu_threads(work) > 1)
  for (int b = 0; b < d.batch; ++b) {
    const T* xb = x + b * d.in_size();
    for (int oc = 0; oc < Co; ++oc) {
      const Range rc = window(oc, d.sc, d.pc, d.kc, d.c);
      const long o0 = (b * long(Co) + oc) * P;
      T* __restrict__ yr = y + o0;
      int32_t* __restrict__ ar = argmax + o0;
      const int32_t c0 = rc.lo * plane;
#pragma omp simd
      for (int o = 0; o < P; ++o) {
        ar[o] = c0 + fst[o];
        yr[o] = xb[c0 + fst[o]];
      }
      for (int c = rc.lo; c < rc.hi; ++c) {
        const int32_t cb = c * plane;
        for (int k = 0; k < K; ++k) {
          const int32_t* __restrict__ t = tab + size_t(k) * size_t(P);
#pragma omp simd
          for (int o = 0; o < P; ++o) {
            const int32_t idx = cb + t[o];
            max_step(xb[idx], idx, yr[o], ar[o]);
          }
        }
      }
    }
  }
}

template void pool3d_forward_rows_cpu<float>(const Pool3dDims&, const float*, float*, int32_t*);
template void pool3d_forward_rows_cpu<double>(const Pool3dDims&, const double*, double*, int32_t*);
template void pool3d_forward_table_cpu<float>(const Pool3dDims&, const float*, float*, int32_t*);
template void pool3d_forward_table_cpu<double>(const Pool3dDims&, const double*, double*, int32_t*);

}  // namespace detail

bool pool3d_cpu_uses_table(const Pool3dDims& d) {
  const bool feature_only =
      d.kh == 1 && d.kw == 1 && d.sh == 1 && d.sw == 1 && d.ph == 0 && d.pw == 0;
  return !feature_only && d.out_w() < kTableBelowWidth;
}

template <class T>
void pool3d_forward_cpu(const Pool3dDims& d, const T* x, T* y, int32_t* argmax) {
  check_pool3d_dims(d, "pool3d_forward_cpu");
  RM_CHECK(x && y && argmax, "pool3d_forward_cpu: null x, y or argmax");
  RM_CHECK(d.in_size() <= INT32_MAX, "pool3d_forward_cpu: sample of ", d.in_size(),
           " elements overflows the int32 argmax");
  if (pool3d_cpu_uses_table(d)) return detail::pool3d_forward_table_cpu(d, x, y, argmax);
  detail::pool3d_forward_rows_cpu(d, x, y, argmax);
}

template <class T>
void pool3d_backward_cpu(const Pool3dDims& d, const T* dy, const int32_t* argmax, T* dx) {
  check_pool3d_dims(d, "pool3d_backward_cpu");
  RM_CHECK(dy && argmax && dx, "pool3d_backward_cpu: null dy, argmax or dx");
  const long in = d.in_size(), out = d.out_size();
  const double work = double(d.batch) * (in + out);
  // Overlapping windows can share a winner, so gradients add; samples never share cells.
#pragma omp parallel for schedule(static) if (cpu_threads(work) > 1)
  for (int b = 0; b < d.batch; ++b) {
    T* dxb = dx + b * in;
    const T* dyb = dy + b * out;
    const int32_t* ab = argmax + b * out;
    std::fill(dxb, dxb + in, T(0));
    for (long o = 0; o < out; ++o) dxb[ab[o]] += dyb[o];
  }
}

template void pool3d_forward_cpu<float>(const Pool3dDims&, const float*, float*, int32_t*);
template void pool3d_forward_cpu<double>(const Pool3dDims&, const double*, double*, int32_t*);
template void pool3d_backward_cpu<float>(const Pool3dDims&, const float*, const int32_t*, float*);
template void pool3d_backward_cpu<double>(const Pool3dDims&, const double*, const int32_t*,
                                          double*);

}  // namespace relmimic::kernels
