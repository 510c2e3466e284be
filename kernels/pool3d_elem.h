// One output (forward) or one input element (backward) of MaxPool3D: the per-thread work of
// pool3d_cuda.cu. Plain C++ too, so tests/gpu/test_cuda_pool_index.cpp runs every element on
// the CPU against pool3d_*_cpu without a GPU.
#pragma once

#include <cstdint>

#include "kernels/fast_divmod.h"
#include "kernels/pool3d.h"

namespace relmimic::kernels::pool {

// Pool3dDims with the output sizes precomputed (its methods are host-only).
struct Geom {
  int c, h, w, oc, oh, ow;
  int kc, kh, kw, sc, sh, sw, pc, ph, pw;
  int in_size, out_size;  // per sample
  FastDivmod div_ow, div_oh, div_oc, div_w, div_h, div_c;

  explicit Geom(const Pool3dDims& d)
      : c(d.c),
        h(d.h),
        w(d.w),
        oc(d.out_c()),
        oh(d.out_h()),
        ow(d.out_w()),
        kc(d.kc),
        kh(d.kh),
        kw(d.kw),
        sc(d.sc),
        sh(d.sh),
        sw(d.sw),
        pc(d.pc),
        ph(d.ph),
        pw(d.pw),
        in_size(int(d.in_size())),
        out_size(int(d.out_size())),
        div_ow(ow),
        div_oh(oh),
        div_oc(oc),
        div_w(w),
        div_h(h),
        div_c(c) {}
};

// Input cells [lo, hi) of output o along one axis: the window clipped to [0, n).
struct Range {
  int lo, hi;
};
RM_HD Range window(int o, int s, int p, int k, int n) {
  const int start = o * s - p;
  return {start > 0 ? start : 0, start + k < n ? start + k : n};
}

// Outputs [lo, hi] along one axis whose window holds input cell i (hi < lo: none).
RM_HD Range outputs_of(int i, int s, int p, int k, int n_out) {
  const int a = i + p - k + 1, b = i + p;  // o*s in [a, b]
  const int lo = a > 0 ? (a + s - 1) / s : 0;
  const int hi = b / s < n_out - 1 ? b / s : n_out - 1;
  return {lo, hi};
}

// Output o (flat over [B, Co, Ho, Wo]): the window's cells in (c, h, w) order; a strictly larger
// value replaces the best, so the first maximum wins and a NaN never replaces nor loses once
// it holds the best, exactly as pool3d_forward_cpu does.
template <class T>
RM_HD void forward_at(const Geom& g, int o, const T* x, T* y, int32_t* argmax) {
  int t, ox, oy, oz, b;
  g.div_ow.divmod(o, t, ox);
  g.div_oh.divmod(t, t, oy);
  g.div_oc.divmod(t, b, oz);
  const Range rc = window(oz, g.sc, g.pc, g.kc, g.c);
  const Range rh = window(oy, g.sh, g.ph, g.kh, g.h);
  const Range rw = window(ox, g.sw, g.pw, g.kw, g.w);
  const T* xb = x + long(b) * g.in_size;
  int32_t best_i = (rc.lo * g.h + rh.lo) * g.w + rw.lo;
  T best = xb[best_i];
  for (int c = rc.lo; c < rc.hi; ++c)
    for (int h = rh.lo; h < rh.hi; ++h) {
      const int row = (c * g.h + h) * g.w;
      for (int w = rw.lo; w < rw.hi; ++w) {
        const T v = xb[row + w];
        if (v > best) {
          best = v;
          best_i = row + w;
        }
      }
    }
  y[o] = best;
  argmax[o] = best_i;
}

// Input element i (flat over [B, C, H, W]): dx = sum of dy over the outputs whose window holds
// it and chose it, added in increasing output order, the order pool3d_backward_cpu adds them
// in (so the two agree bit for bit). A gather: no atomics, each dx written once.
template <class T>
RM_HD void backward_at(const Geom& g, int i, const T* dy, const int32_t* argmax, T* dx) {
  int t, x, y, z, b;
  g.div_w.divmod(i, t, x);
  g.div_h.divmod(t, t, y);
  g.div_c.divmod(t, b, z);
  const int32_t self = (z * g.h + y) * g.w + x;
  const Range rc = outputs_of(z, g.sc, g.pc, g.kc, g.oc);
  const Range rh = outputs_of(y, g.sh, g.ph, g.kh, g.oh);
  const Range rw = outputs_of(x, g.sw, g.pw, g.kw, g.ow);
  const long base = long(b) * g.out_size;
  T acc = T(0);
  for (int oc = rc.lo; oc <= rc.hi; ++oc)
    for (int oh = rh.lo; oh <= rh.hi; ++oh)
      for (int ow = rw.lo; ow <= rw.hi; ++ow) {
        const long o = base + (long(oc) * g.oh + oh) * g.ow + ow;
        if (argmax[o] == self) acc += dy[o];
      }
  dx[i] = acc;
}

}  // namespace relmimic::kernels::pool
