// MaxPool3D on the CPU: each output scans its (kc, kh, kw) window in (c, h, w) order, skipping
// padding; a strictly larger value replaces the best, so the first maximum wins ties.
#include <algorithm>
#include <type_traits>
#include <vector>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

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
// The stem version's widest and tallest input plane (three 16-lane vectors per row).
constexpr int kStemPoolMaxSize = 48;

#if defined(__AVX512F__)
// One output plane (b, oc) in plain scan order: each output's window cells in (c, h, w) order,
// padding skipped, a strictly larger value replaces the best. The stem version's way out for
// planes that hold a NaN (its separable passes would order a NaN's neighbours differently).
template <class T>
void scan_plane(const Pool3dDims& d, const T* xb, int oc, T* yr, int32_t* ar) {
  const Range rc = window(oc, d.sc, d.pc, d.kc, d.c);
  const int Ho = d.out_h(), Wo = d.out_w();
  for (int oh = 0; oh < Ho; ++oh) {
    const Range rh = window(oh, d.sh, d.ph, d.kh, d.h);
    for (int ow = 0; ow < Wo; ++ow) {
      const Range rw = window(ow, d.sw, d.pw, d.kw, d.w);
      int32_t best = (rc.lo * d.h + rh.lo) * d.w + rw.lo;
      T v = xb[best];
      for (int c = rc.lo; c < rc.hi; ++c)
        for (int h = rh.lo; h < rh.hi; ++h)
          for (int w = rw.lo; w < rw.hi; ++w)
            max_step(xb[(c * d.h + h) * d.w + w], (c * d.h + h) * d.w + w, v, best);
      yr[oh * Wo + ow] = v;
      ar[oh * Wo + ow] = best;
    }
  }
}

// The stem version takes windows (kh, kw) = (3, 3) / 2 padded by 1, any channel window.
bool stem_pool_shape(const Pool3dDims& d) {
  return d.kh == 3 && d.kw == 3 && d.sh == 2 && d.sw == 2 && d.ph == 1 && d.pw == 1 && d.w >= 2 &&
         d.w <= kStemPoolMaxSize && d.h >= 2 && d.h <= kStemPoolMaxSize;
}

// The stem pool's (3, 3) / 2 window, padded by 1, over rows of at most 48 cells, with AVX-512:
// separable passes. The first maximum of a (kh, kw) window in (h, w) order is the first maximum
// over its rows of each row's first maximum, and the first over channels of each channel's, so
// each input row is reduced once: its even cells (2 ow), odd cells (2 ow + 1) and their shift
// (2 ow - 1) are three lane permutations of the row's three vectors; the rows' results then
// reduce three at a time down the columns and across the channel window. Lanes 0-15 hold output
// columns 0-15, lanes 16-31 (a second vector) columns 16-23.
struct StemRow {
  __m512 v[2];
  __m512i a[2];
};

// Window (2 ow - 1, 2 ow, 2 ow + 1) of one row of W <= 48 cells starting at flat index base.
// nan |= whether the row holds a NaN.
inline StemRow stem_row(const float* xr, int W, int32_t base, __mmask16& nan) {
  const auto mask = [&](int from) -> __mmask16 {
    const int n = std::clamp(W - from, 0, 16);
    return __mmask16((1u << n) - 1u);
  };
  const __m512 z0 = _mm512_maskz_loadu_ps(mask(0), xr);
  const __m512 z1 = _mm512_maskz_loadu_ps(mask(16), xr + 16);
  const __m512 z2 = _mm512_maskz_loadu_ps(mask(32), xr + 32);
  nan |= _mm512_cmp_ps_mask(z0, z0, _CMP_UNORD_Q) | _mm512_cmp_ps_mask(z1, z1, _CMP_UNORD_Q) |
         _mm512_cmp_ps_mask(z2, z2, _CMP_UNORD_Q);
  const __m512i iota = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
  const __m512i even = _mm512_slli_epi32(iota, 1);                   // 0, 2, .., 30
  const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));  // 1, 3, .., 31
  const __m512i left = _mm512_set_epi32(29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1,
                                        0);                               // (0), 1, .., 29
  const __m512i left_hi = _mm512_add_epi32(even, _mm512_set1_epi32(15));  // 15, 17, .., 45
  const __m512 zero = _mm512_setzero_ps();
  StemRow r;
  // Cells 2 ow, 2 ow + 1 and 2 ow - 1 for ow in [0, 16) from (z0, z1), for ow in [16, 24) from
  // z2 and (z1, z2). (Two-source permutations throughout: GCC 12 warns on the one-source ones'
  // undefined pass-through operand.)
  const __m512 e[2] = {_mm512_permutex2var_ps(z0, even, z1),
                       _mm512_permutex2var_ps(z2, even, zero)};
  const __m512 o[2] = {_mm512_permutex2var_ps(z0, odd, z1), _mm512_permutex2var_ps(z2, odd, zero)};
  const __m512 l[2] = {_mm512_permutex2var_ps(z0, left, z1),
                       _mm512_permutex2var_ps(z1, left_hi, z2)};
  for (int k = 0; k < 2; ++k) {
    const __m512i col = _mm512_add_epi32(even, _mm512_set1_epi32(32 * k));  // 2 ow
    const __m512i at = _mm512_add_epi32(col, _mm512_set1_epi32(base));
    // Column 2 ow - 1 is padding at ow = 0: start from 2 ow there.
    const __mmask16 has_left = k == 0 ? __mmask16(0xFFFE) : __mmask16(0xFFFF);
    __m512 v = _mm512_mask_blend_ps(has_left, e[k], l[k]);
    __m512i a = _mm512_mask_blend_epi32(has_left, at, _mm512_sub_epi32(at, _mm512_set1_epi32(1)));
    __mmask16 gt = _mm512_cmp_ps_mask(e[k], v, _CMP_GT_OQ);
    v = _mm512_mask_mov_ps(v, gt, e[k]);
    a = _mm512_mask_mov_epi32(a, gt, at);
    // Column 2 ow + 1 only inside the row.
    const __mmask16 right_in =
        _mm512_cmplt_epi32_mask(_mm512_add_epi32(col, _mm512_set1_epi32(1)), _mm512_set1_epi32(W));
    gt = _mm512_mask_cmp_ps_mask(right_in, o[k], v, _CMP_GT_OQ);
    r.v[k] = _mm512_mask_mov_ps(v, gt, o[k]);
    r.a[k] = _mm512_mask_mov_epi32(a, gt, _mm512_add_epi32(at, _mm512_set1_epi32(1)));
  }
  return r;
}

inline void stem_step(StemRow& best, const StemRow& r) {
  for (int k = 0; k < 2; ++k) {
    const __mmask16 gt = _mm512_cmp_ps_mask(r.v[k], best.v[k], _CMP_GT_OQ);
    best.v[k] = _mm512_mask_mov_ps(best.v[k], gt, r.v[k]);
    best.a[k] = _mm512_mask_mov_epi32(best.a[k], gt, r.a[k]);
  }
}

void pool3d_forward_stem_avx512(const Pool3dDims& d, const float* x, float* y, int32_t* argmax) {
  const int Co = d.out_c(), Ho = d.out_h(), Wo = d.out_w(), P = Ho * Wo;
  const __mmask16 out_lo = __mmask16((1u << std::min(Wo, 16)) - 1u);
  const __mmask16 out_hi = __mmask16((1u << std::max(Wo - 16, 0)) - 1u);
  const double work = double(d.batch) * d.out_size() * d.kc * d.kh * d.kw;
#pragma omp parallel if (cpu_threads(work) > 1)
  {
    // Each row's result, for one channel at a time, and the channel window's best per output.
    StemRow rows[kStemPoolMaxSize], best[kStemPoolMaxSize];
#pragma omp for schedule(static)
    for (int b = 0; b < d.batch; ++b) {
      const float* xb = x + b * d.in_size();
      for (int oc = 0; oc < Co; ++oc) {
        const Range rc = window(oc, d.sc, d.pc, d.kc, d.c);
        __mmask16 nan = 0;
        for (int c = rc.lo; c < rc.hi; ++c) {
          for (int h = 0; h < d.h; ++h) {
            const int32_t base = (c * d.h + h) * d.w;
            rows[size_t(h)] = stem_row(xb + base, d.w, base, nan);
          }
          for (int oh = 0; oh < Ho; ++oh) {
            const Range rh = window(oh, d.sh, d.ph, d.kh, d.h);
            StemRow r = rows[size_t(rh.lo)];
            for (int h = rh.lo + 1; h < rh.hi; ++h) stem_step(r, rows[size_t(h)]);
            if (c == rc.lo)
              best[size_t(oh)] = r;
            else
              stem_step(best[size_t(oh)], r);
          }
        }
        const long o0 = (b * long(Co) + oc) * P;
        if (nan) {
          scan_plane(d, xb, oc, y + o0, argmax + o0);
          continue;
        }
        for (int oh = 0; oh < Ho; ++oh) {
          float* yr = y + o0 + long(oh) * Wo;
          int32_t* ar = argmax + o0 + long(oh) * Wo;
          const StemRow& r = best[size_t(oh)];
          _mm512_mask_storeu_ps(yr, out_lo, r.v[0]);
          _mm512_mask_storeu_epi32(ar, out_lo, r.a[0]);
          _mm512_mask_storeu_ps(yr + 16, out_hi, r.v[1]);
          _mm512_mask_storeu_epi32(ar + 16, out_hi, r.a[1]);
        }
      }
    }
  }
}
#endif

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

template <class T>
bool pool3d_forward_stem_cpu(const Pool3dDims& d, const T* x, T* y, int32_t* argmax) {
#if defined(__AVX512F__)
  if constexpr (std::is_same_v<T, float>) {
    if (!stem_pool_shape(d)) return false;
    pool3d_forward_stem_avx512(d, x, y, argmax);
    return true;
  }
#endif
  (void)d, (void)x, (void)y, (void)argmax;
  return false;
}

template void pool3d_forward_rows_cpu<float>(const Pool3dDims&, const float*, float*, int32_t*);
template void pool3d_forward_rows_cpu<double>(const Pool3dDims&, const double*, double*, int32_t*);
template void pool3d_forward_table_cpu<float>(const Pool3dDims&, const float*, float*, int32_t*);
template void pool3d_forward_table_cpu<double>(const Pool3dDims&, const double*, double*, int32_t*);
template bool pool3d_forward_stem_cpu<float>(const Pool3dDims&, const float*, float*, int32_t*);
template bool pool3d_forward_stem_cpu<double>(const Pool3dDims&, const double*, double*, int32_t*);

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
  if (detail::pool3d_forward_stem_cpu(d, x, y, argmax)) return;
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
