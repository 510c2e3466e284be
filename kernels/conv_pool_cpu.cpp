// The weight gradient of conv -> max-pool from the pool's output gradient (kernels/conv_pool.h).
#include <algorithm>
#include <type_traits>
#include <vector>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "kernels/common.h"
#include "kernels/conv_pool.h"
#include "kernels/parallel_cpu.h"

namespace relmimic::kernels {

namespace {

// Where each output cell's input patch starts, for one (Ho, Wo) plane: input row oh*s - p and
// column ow*s - p, their flat offset inside an input channel plane, and whether the patch can
// take the wide path: wholly inside the input, and each row's kWide-float read (kw real cells
// and kWide - kw beyond them, in the next row at worst) stays inside the sample's input.
struct PatchStart {
  int32_t offset;
  int16_t row, col;
  bool wide;
};

// Rows of the wide path: kWide floats, of which the first kw are the patch's.
constexpr int kWide = kPooledMaxKernelWidth;
// kWide elements as one vector (GCC / Clang vector extensions).
template <class T>
struct Wide;
template <>
struct Wide<float> {
  typedef float type __attribute__((vector_size(kWide * sizeof(float))));
};
template <>
struct Wide<double> {
  typedef double type __attribute__((vector_size(kWide * sizeof(double))));
};

// acc[co][ci][i][0..kWide) += g * x[ci][row + i][col .. col + kWide): fixed-width rows the
// compiler turns into one vector multiply-add each (lanes kw.. are discarded at the end).
template <class T>
void add_wide_patch(const T* __restrict__ xn, const Conv2dDims& d, int32_t offset, T g,
                    T* __restrict__ acc) {
  const long plane = long(d.in_h) * d.in_w;
  for (int ci = 0; ci < d.in_c; ++ci) {
    const T* xc = xn + ci * plane + offset;
    for (int i = 0; i < d.kh; ++i) {
      const T* xr = xc + long(i) * d.in_w;
      T* ar = acc + (long(ci) * d.kh + i) * kWide;
#pragma omp simd
      for (int j = 0; j < kWide; ++j) ar[j] += g * xr[j];
    }
  }
}

// The same, cell by cell, for a patch that crosses the padding or the end of the input.
template <class T>
void add_clipped_patch(const T* __restrict__ xn, const Conv2dDims& d, const PatchStart& s, T g,
                       T* __restrict__ acc) {
  const long plane = long(d.in_h) * d.in_w;
  const int i0 = std::max(0, -s.row), i1 = std::min(d.kh, d.in_h - s.row);
  const int j0 = std::max(0, -s.col), j1 = std::min(d.kw, d.in_w - s.col);
  for (int ci = 0; ci < d.in_c; ++ci)
    for (int i = i0; i < i1; ++i) {
      const T* xr = xn + ci * plane + long(s.row + i) * d.in_w + s.col;
      T* ar = acc + (long(ci) * d.kh + i) * kWide;
      for (int j = j0; j < j1; ++j) ar[j] += g * xr[j];
    }
}

// The output channel of the conv's output cell a (a / HW) without a division per output: a float
// estimate from inv = 1 / HW, corrected by one step.
inline int channel_of(int32_t a, int HW, float inv) {
  int co = int(float(a) * inv);
  if (co * HW > a) --co;
  if ((co + 1) * HW <= a) ++co;
  return co;
}

// Samples [b0, b1) into acc [Cout][Cin][kh][kWide] and gb [Cout] (may be nullptr), one output
// at a time (any Cin * kh).
template <class T>
void accumulate(const Conv2dDims& d, const T* x, const Pool3dDims& p, const int32_t* argmax,
                const T* dpool, const PatchStart* starts, int b0, int b1, T* acc, T* gb) {
  const long P = p.out_size(), K = long(d.in_c) * d.kh * kWide;
  const int HW = d.out_h() * d.out_w();
  const float inv = 1.0f / float(HW);
  for (int b = b0; b < b1; ++b) {
    const T* xn = x + b * d.in_size();
    const T* g = dpool + b * P;
    const int32_t* a = argmax + b * P;
    for (long o = 0; o < P; ++o) {
      if (g[o] == T(0)) continue;
      const int co = channel_of(a[o], HW, inv);
      const PatchStart& s = starts[a[o] - co * HW];
      T* ac = acc + co * K;
      if (s.wide)
        add_wide_patch(xn, d, s.offset, g[o], ac);
      else
        add_clipped_patch(xn, d, s, g[o], ac);
      if (gb) gb[co] += g[o];
    }
  }
}

// Indices o in [o0, o1) whose gradient g[o] is nonzero and whose winner a[o] lies in [lo, hi)
// (one channel of the convolution's output), in increasing order, into list; returns how many.
// Branch-free: about half the gradients are zero (the ReLU after the pool) and the winners of a
// window fall in either of its channels, so a branch per output would mispredict half the time.
template <class T>
int winners_in(const T* g, const int32_t* a, long o0, long o1, int32_t lo, int32_t hi,
               int32_t* list) {
  int n = 0;
  long o = o0;
#if defined(__AVX512F__)
  if constexpr (std::is_same_v<T, float>) {
    const __m512i iota = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    const __m512i vlo = _mm512_set1_epi32(lo), vhi = _mm512_set1_epi32(hi);
    for (; o + 16 <= o1; o += 16) {
      const __mmask16 nz =
          _mm512_cmp_ps_mask(_mm512_loadu_ps(g + o), _mm512_setzero_ps(), _CMP_NEQ_UQ);
      const __m512i av = _mm512_loadu_si512(a + o);
      const __mmask16 in =
          _mm512_mask_cmpge_epi32_mask(nz, av, vlo) & _mm512_cmplt_epi32_mask(av, vhi);
      // Register compression and a full store (the memory form is slow on some cores); list
      // has 16 spare entries past its largest count.
      const __m512i idx = _mm512_add_epi32(iota, _mm512_set1_epi32(int32_t(o)));
      _mm512_storeu_si512(list + n, _mm512_maskz_compress_epi32(in, idx));
      n += __builtin_popcount(unsigned(in));
    }
  }
#endif
  for (; o < o1; ++o) {
    list[n] = int32_t(o);
    n += int(g[o] != T(0)) & int(a[o] >= lo) & int(a[o] < hi);
  }
  return n;
}

// The same sums with R = Cin * kh known at compile time (the agent's stem: 4 or 8 frames x 5
// rows): for each output channel co, its winners (from the pool channels whose window holds co)
// are gathered branch-free, and co's R accumulator rows stay in vector registers over all of them
// (one load and one multiply-add per patch row). 1.3-1.6x the speed of a counting sort by channel
// with a branch per output and clipped patches through a call that spilled the accumulators
// (bench_conv_cpu StemPooledWeightGrad; splitting the planes into bands of rows, to keep the
// input rows in L1 over the channels, measured no faster).
template <int CI, int KH, class T>
void accumulate_by_channel(const Conv2dDims& d, const T* x, const Pool3dDims& p,
                           const int32_t* argmax, const T* dpool, const PatchStart* starts, int b0,
                           int b1, T* acc, T* gb) {
  using V = typename Wide<T>::type;
  constexpr int R = CI * KH;  // accumulator row r = ci * kh + i
  const long P = p.out_size();
  const int HW = d.out_h() * d.out_w(), C = d.out_c;
  const int Co = p.out_c(), P2 = p.out_h() * p.out_w();
  const long plane = long(d.in_h) * d.in_w, w = d.in_w;
  static thread_local std::vector<int32_t> list;
  list.resize(size_t(P2) + 16);
  for (int b = b0; b < b1; ++b) {
    const T* xn = x + b * d.in_size();
    const T* g = dpool + b * P;
    const int32_t* a = argmax + b * P;
    for (int co = 0; co < C; ++co) {
      // The pool channels oc whose window [oc * sc - pc, + kc) holds co.
      const int oc_lo = std::max(0, (co + p.pc - p.kc + p.sc) / p.sc);
      const int oc_hi = std::min(Co - 1, (co + p.pc) / p.sc);
      const int32_t lo = co * HW, hi = lo + HW;
      T* ac = acc + long(co) * R * kWide;
      V v[R];
#pragma GCC unroll 40
      for (int r = 0; r < R; ++r) v[r] = V{};
      T gsum = T(0);
      for (int oc = oc_lo; oc <= oc_hi; ++oc) {
        const int n = winners_in(g, a, long(oc) * P2, long(oc + 1) * P2, lo, hi, list.data());
        // The wide patches here; the few clipped ones (the first row and column of the
        // convolution's output) too where AVX-512 masks their loads, else they are moved to the
        // list's front and added to acc afterwards, so that no call inside the loop pushes v
        // out of its registers.
        int clipped = 0;
        for (int k = 0; k < n; ++k) {
          const int32_t o = list[size_t(k)];
          const PatchStart& s = starts[a[o] - lo];
          const T gv = g[o];
          if (s.wide) {
            gsum += gv;
            const T* xs = xn + s.offset;
#pragma GCC unroll 8
            for (int ci = 0; ci < CI; ++ci) {
              const T* xr = xs + ci * plane;
#pragma GCC unroll 8
              for (int i = 0; i < KH; ++i, xr += w) {
                V xv;
                __builtin_memcpy(&xv, xr, sizeof(V));
                v[ci * KH + i] += gv * xv;
              }
            }
            continue;
          }
#if defined(__AVX512F__) && defined(__AVX512VL__)
          if constexpr (std::is_same_v<T, float>) {
            // In registers too: rows outside the input skipped, columns outside masked off
            // (a masked-off lane is never read).
            gsum += gv;
            const int i0 = std::max(0, -int(s.row)), i1 = std::min(KH, d.in_h - s.row);
            unsigned m = 0;
            for (int j = 0; j < kWide; ++j)
              m |= unsigned(s.col + j >= 0 && s.col + j < d.in_w) << j;
            const long base = long(s.row) * w + s.col;
#pragma GCC unroll 8
            for (int ci = 0; ci < CI; ++ci)
#pragma GCC unroll 8
              for (int i = 0; i < KH; ++i)
                if (i >= i0 && i < i1) {
                  const V xv =
                      V(_mm256_maskz_loadu_ps(__mmask8(m), xn + (ci * plane + base + i * w)));
                  v[ci * KH + i] += gv * xv;
                }
            continue;
          }
#endif
          list[size_t(clipped++)] = o;
        }
        for (int k = 0; k < clipped; ++k) {
          const int32_t o = list[size_t(k)];
          gsum += g[o];  // (the order of gsum's terms is fixed all the same)
          add_clipped_patch(xn, d, starts[a[o] - lo], g[o], ac);
        }
      }
#pragma GCC unroll 40
      for (int r = 0; r < R; ++r)
        for (int j = 0; j < kWide; ++j) ac[r * kWide + j] += v[r][j];
      if (gb) gb[co] += gsum;
    }
  }
}

template <class T>
void accumulate_any(const Conv2dDims& d, const T* x, const Pool3dDims& p, const int32_t* argmax,
                    const T* dpool, const PatchStart* starts, int b0, int b1, T* acc, T* gb) {
  if (d.kh == 5 && d.in_c == 4)  // 4 frames
    return accumulate_by_channel<4, 5>(d, x, p, argmax, dpool, starts, b0, b1, acc, gb);
  if (d.kh == 5 && d.in_c == 8)  // 8 frames
    return accumulate_by_channel<8, 5>(d, x, p, argmax, dpool, starts, b0, b1, acc, gb);
  accumulate(d, x, p, argmax, dpool, starts, b0, b1, acc, gb);
}

}  // namespace

template <class T>
void conv2d_backward_weight_pooled_cpu(const Conv2dDims& d, const T* x, const Pool3dDims& p,
                                       const int32_t* argmax, const T* dpool, T* dw, T* db) {
  check_conv2d_dims(d, "conv2d_backward_weight_pooled_cpu");
  check_pool3d_dims(p, "conv2d_backward_weight_pooled_cpu");
  RM_CHECK(x && argmax && dpool && dw,
           "conv2d_backward_weight_pooled_cpu: null x, argmax, dpool or dw");
  RM_CHECK(!d.blocked_in && !d.blocked_out, "conv2d_backward_weight_pooled_cpu: NCHW tensors only");
  RM_CHECK(p.batch == d.batch && p.c == d.out_c && p.h == d.out_h() && p.w == d.out_w(),
           "conv2d_backward_weight_pooled_cpu: the pool's input [", p.batch, ", ", p.c, ", ", p.h,
           ", ", p.w, "] is not the convolution's output [", d.batch, ", ", d.out_c, ", ",
           d.out_h(), ", ", d.out_w(), "]");
  RM_CHECK(d.kw <= kWide, "conv2d_backward_weight_pooled_cpu: kernel width ", d.kw, " above ",
           kWide);
  const int Ho = d.out_h(), Wo = d.out_w();
  static thread_local std::vector<PatchStart> starts;
  starts.resize(size_t(Ho) * size_t(Wo));
  for (int oh = 0; oh < Ho; ++oh)
    for (int ow = 0; ow < Wo; ++ow) {
      const int r = oh * d.stride - d.pad, c = ow * d.stride - d.pad;
      const bool inside = r >= 0 && c >= 0 && r + d.kh <= d.in_h && c + d.kw <= d.in_w;
      // The last row's read may pass the row's end only where another row follows.
      const bool wide = inside && (c + kWide <= d.in_w || r + d.kh < d.in_h);
      starts[size_t(oh) * Wo + size_t(ow)] = {inside ? r * d.in_w + c : 0, int16_t(r), int16_t(c),
                                              wide};
    }
  const PatchStart* st = starts.data();
  const long K = long(d.in_c) * d.kh, C = d.out_c, asize = C * K * kWide;
  // Adds a thread's rows of kWide into dw's rows of kw.
  auto fold = [&](const T* acc) {
    for (long r = 0; r < C * K; ++r)
      for (int j = 0; j < d.kw; ++j) dw[r * d.kw + j] += acc[r * kWide + j];
  };
  // Work: about one patch per pool output.
  const double work = double(d.batch) * double(p.out_size()) * d.in_c * d.kh * d.kw;
  const int threads = std::min(cpu_threads(work), d.batch);
  if (threads <= 1) {
    static thread_local std::vector<T> acc;
    acc.assign(size_t(asize), T(0));
    accumulate_any(d, x, p, argmax, dpool, st, 0, d.batch, acc.data(), db);
    fold(acc.data());
    return;
  }
  constexpr int kMaxThreads = 256;  // a fixed array of partial sums: no allocation per call
  T* partial[kMaxThreads] = {};
#pragma omp parallel num_threads(std::min(threads, kMaxThreads))
  {
    const int t = omp_get_thread_num(), n = omp_get_num_threads();
    const int b0 = int(long(d.batch) * t / n), b1 = int(long(d.batch) * (t + 1) / n);
    static thread_local std::vector<T> mine;
    mine.assign(size_t(asize + C), T(0));
    partial[t] = mine.data();
    accumulate_any(d, x, p, argmax, dpool, st, b0, b1, mine.data(), mine.data() + asize);
#pragma omp barrier
    // Fixed summation order (thread 0, 1, ...), so results do not depend on timing.
#pragma omp single
    {
      for (int u = 0; u < n; ++u) {
        fold(partial[u]);
        if (db)
          for (long co = 0; co < C; ++co) db[co] += partial[u][asize + co];
      }
    }
  }
}

template void conv2d_backward_weight_pooled_cpu<float>(const Conv2dDims&, const float*,
                                                       const Pool3dDims&, const int32_t*,
                                                       const float*, float*, float*);
template void conv2d_backward_weight_pooled_cpu<double>(const Conv2dDims&, const double*,
                                                        const Pool3dDims&, const int32_t*,
                                                        const double*, double*, double*);

}  // namespace relmimic::kernels
