// The weight gradient of conv -> max-pool from the pool's output gradient (kernels/conv_pool.h).
#include <algorithm>
#include <vector>

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

// The same with R = Cin * kh known at compile time (the agent's stem: 4 frames x 5 rows): each
// sample's nonzero outputs are sorted by co (a counting sort), and co's R accumulator rows stay
// in vector registers over all of them (one load and one multiply-add per patch row).
template <int CI, int KH, class T>
void accumulate_by_channel(const Conv2dDims& d, const T* x, const Pool3dDims& p,
                           const int32_t* argmax, const T* dpool, const PatchStart* starts, int b0,
                           int b1, T* acc, T* gb) {
  using V = typename Wide<T>::type;
  const long P = p.out_size();
  const int HW = d.out_h() * d.out_w(), C = d.out_c;
  const float inv = 1.0f / float(HW);
  const long plane = long(d.in_h) * d.in_w;
  constexpr int R = CI * KH;  // accumulator row r = ci * kh + i
  const long w = d.in_w;
  static thread_local std::vector<int32_t> count, order, chan;
  count.resize(size_t(C) + 1);
  order.resize(size_t(P));
  chan.resize(size_t(P));
  for (int b = b0; b < b1; ++b) {
    const T* xn = x + b * d.in_size();
    const T* g = dpool + b * P;
    const int32_t* a = argmax + b * P;
    std::fill(count.begin(), count.end(), 0);
    for (long o = 0; o < P; ++o) {
      if (g[o] == T(0)) {
        chan[size_t(o)] = -1;
        continue;
      }
      const int co = channel_of(a[o], HW, inv);
      chan[size_t(o)] = co;
      ++count[size_t(co) + 1];
    }
    for (int c = 0; c < C; ++c) count[size_t(c) + 1] += count[size_t(c)];
    for (long o = 0; o < P; ++o)
      if (chan[size_t(o)] >= 0) order[size_t(count[size_t(chan[size_t(o)])]++)] = int32_t(o);
    // count[c] is now the end of channel c's run (the start of c + 1's).
    int begin = 0;
    for (int co = 0; co < C; ++co) {
      const int end = count[size_t(co)];
      if (begin == end) continue;
      T* ac = acc + long(co) * R * kWide;
      // The wide patches' sum in registers (the clipped ones go straight to acc, so nothing
      // takes v's address and it stays in registers), added to acc at the end.
      V v[R];
#pragma GCC unroll 40
      for (int r = 0; r < R; ++r) v[r] = V{};
      T gsum = T(0);
      for (int k = begin; k < end; ++k) {
        const long o = order[size_t(k)];
        const PatchStart& s = starts[a[o] - co * HW];
        const T gv = g[o];
        gsum += gv;
        if (s.wide) {
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
        } else {
          add_clipped_patch(xn, d, s, gv, ac);
        }
      }
#pragma GCC unroll 40
      for (int r = 0; r < R; ++r)
        for (int j = 0; j < kWide; ++j) ac[r * kWide + j] += v[r][j];
      if (gb) gb[co] += gsum;
      begin = end;
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
