// MaxPool3D on the CPU: each output scans its (kc, kh, kw) window in (c, h, w) order, skipping
// padding; a strictly larger value replaces the best, so the first maximum wins ties.
#include <algorithm>

#include "kernels/common.h"
#include "kernels/parallel_cpu.h"
#include "kernels/pool3d.h"

namespace relmimic::kernels {

namespace {

void check_dims(const Pool3dDims& d, const char* who) {
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

// [lo, hi) of input indices covered by output o along one axis, clipped to [0, n).
struct Range {
  int lo, hi;
};
inline Range window(int o, int s, int p, int k, int n) {
  const int start = o * s - p;
  return {std::max(start, 0), std::min(start + k, n)};
}

}  // namespace

template <class T>
void pool3d_forward_cpu(const Pool3dDims& d, const T* x, T* y, int32_t* argmax) {
  check_dims(d, "pool3d_forward_cpu");
  RM_CHECK(x && y && argmax, "pool3d_forward_cpu: null x, y or argmax");
  RM_CHECK(d.in_size() <= INT32_MAX, "pool3d_forward_cpu: sample of ", d.in_size(),
           " elements overflows the int32 argmax");
  const int Co = d.out_c(), Ho = d.out_h(), Wo = d.out_w();
  const double work = double(d.batch) * d.out_size() * d.kc * d.kh * d.kw;
#pragma omp parallel for schedule(static) if (cpu_threads(work) > 1)
  for (int b = 0; b < d.batch; ++b) {
    const T* xb = x + b * d.in_size();
    T* yb = y + b * d.out_size();
    int32_t* ab = argmax + b * d.out_size();
    for (int oc = 0; oc < Co; ++oc) {
      const Range rc = window(oc, d.sc, d.pc, d.kc, d.c);
      for (int oh = 0; oh < Ho; ++oh) {
        const Range rh = window(oh, d.sh, d.ph, d.kh, d.h);
        for (int ow = 0; ow < Wo; ++ow) {
          const Range rw = window(ow, d.sw, d.pw, d.kw, d.w);
          int32_t best_i = int32_t((rc.lo * d.h + rh.lo) * d.w + rw.lo);
          T best = xb[best_i];
          for (int c = rc.lo; c < rc.hi; ++c) {
            for (int h = rh.lo; h < rh.hi; ++h) {
              const int32_t row = int32_t((c * d.h + h) * d.w);
              for (int w = rw.lo; w < rw.hi; ++w) {
                if (xb[row + w] > best) best = xb[row + w], best_i = row + w;
              }
            }
          }
          const long o = (long(oc) * Ho + oh) * Wo + ow;
          yb[o] = best;
          ab[o] = best_i;
        }
      }
    }
  }
}

template <class T>
void pool3d_backward_cpu(const Pool3dDims& d, const T* dy, const int32_t* argmax, T* dx) {
  check_dims(d, "pool3d_backward_cpu");
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
