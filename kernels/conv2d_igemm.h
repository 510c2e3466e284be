// The three conv passes as implicit GEMMs: C[M, N] = sum_k A[m, k] B[k, n], where A and B are
// never stored: each problem below says how to read one element of them straight from the NCHW
// tensors and where C[m, n] goes. The tiled CUDA kernel (conv2d_cuda.cu) stages A and B tiles
// in shared memory through these accessors. Plain C++ too: tests/gpu/test_cuda_conv_index.cpp
// runs the same accessors through a naive GEMM on the CPU and checks them against the reference
// conv, so the index arithmetic is verified on machines without a GPU.
//
//   forward          M = Cout  N = B*Ho*Wo          K = Cin*KH*KW        C -> y (+ bias)
//   backward_input   M = Cin   N = B*|hi||wi| (*)   K = Cout*|ki||kj| (*) C -> dx
//   backward_weight  M = Cout  N = Cin*KH*KW (+1)   K = B*Ho*Wo (split)  C -> partial dW | db
//
// (*) backward_input runs one GEMM per stride phase (blockIdx.z): input rows hi with the same
// (hi + pad) mod stride are reached only by kernel rows ki = (hi + pad) mod stride + stride*t,
// so each phase multiplies by its own taps and skips the stride^2 - 1 zeros of the dilated dy.
// backward_weight's extra column n = Cin*KH*KW reads B = 1, so C's last column is db.
#pragma once

#include <algorithm>

#include "kernels/conv2d.h"
#include "kernels/fast_divmod.h"
#include "kernels/igemm_tile.h"

namespace relmimic::kernels::igemm {

// --- forward ---------------------------------------------------------------------------------
struct ConvForward {
  static constexpr bool kBKMajor = false;  // B loads run along n (output columns are contiguous)
  const float* x;                          // [B, Cin, H, W]
  const float* w;                          // [Cout, Cin*KH*KW]
  const float* bias;                       // [Cout] or nullptr
  float* y;                                // [B, Cout, Ho, Wo]
  int M, N, K;
  int in_c, in_h, in_w, out_hw, kw, stride, pad;
  FastDivmod div_out_hw, div_out_w, div_khkw, div_kw;

  explicit ConvForward(const Conv2dDims& d, const float* x_, const float* w_, const float* b_,
                       float* y_)
      : x(x_), w(w_), bias(b_), y(y_) {
    M = d.out_c;
    N = d.batch * d.out_h() * d.out_w();
    K = d.in_c * d.kh * d.kw;
    in_c = d.in_c, in_h = d.in_h, in_w = d.in_w, out_hw = d.out_h() * d.out_w();
    kw = d.kw, stride = d.stride, pad = d.pad;
    div_out_hw = FastDivmod(out_hw), div_out_w = FastDivmod(d.out_w());
    div_khkw = FastDivmod(d.kh * d.kw), div_kw = FastDivmod(d.kw);
  }

  // A row-major slice of the whole problem: forward has one.
  struct Slice;
  RM_HD Slice slice(int) const;
};

struct ConvForward::Slice {
  const ConvForward& p;
  int M, N, k_begin, k_end;

  struct Row {  // k = (ci, ki, kj)
    int off, ki, kj;
  };
  struct Col {  // n = (b, ho, wo)
    int base, hi0, wi0;
  };
  RM_HD float a(int m, int k) const { return p.w[m * p.K + k]; }
  RM_HD Row row(int k) const {
    int ci, r, ki, kj;
    p.div_khkw.divmod(k, ci, r);
    p.div_kw.divmod(r, ki, kj);
    return {(ci * p.in_h + ki) * p.in_w + kj, ki, kj};
  }
  RM_HD Col col(int n) const {
    int b, q, ho, wo;
    p.div_out_hw.divmod(n, b, q);
    p.div_out_w.divmod(q, ho, wo);
    const int hi0 = ho * p.stride - p.pad, wi0 = wo * p.stride - p.pad;
    return {b * p.in_c * p.in_h * p.in_w + hi0 * p.in_w + wi0, hi0, wi0};
  }
  // x[b, ci, hi0 + ki, wi0 + kj], zero in the padding.
  RM_HD float b(const Row& r, const Col& c) const {
    const int hi = c.hi0 + r.ki, wi = c.wi0 + r.kj;
    return unsigned(hi) < unsigned(p.in_h) && unsigned(wi) < unsigned(p.in_w) ? p.x[c.base + r.off]
                                                                              : 0.f;
  }
  RM_HD void store(int m, int n, float v) const {
    int b, q;
    p.div_out_hw.divmod(n, b, q);
    p.y[(b * p.M + m) * p.out_hw + q] = p.bias ? v + p.bias[m] : v;
  }
};

RM_HD ConvForward::Slice ConvForward::slice(int) const {
  return {*this, M, N, 0, K};
}

// --- backward_input --------------------------------------------------------------------------
// Phase z = ph * s + pw holds the input pixels with (hi + pad) mod s = ph, (wi + pad) mod s = pw.
// Every dx element lies in exactly one phase, so each is written once (with 0 when the phase has
// no taps, e.g. a 1x1 kernel with stride 2). One launch covers up to kMaxPhases phases, their
// parameters computed here on the host (no 64-bit divisions in the kernel).
struct ConvBackwardInput {
  static constexpr bool kBKMajor = false;  // B loads run along n (input columns of one phase)
  static constexpr int kMaxPhases = 16;    // stride 4; larger strides take several launches

  struct Phase {
    int N, K;    // this phase's GEMM: N = B*|qh||qw|, K = Cout*|ti||tj|
    int ph, pw;  // kernel taps ki = ph + s*ti, kj = pw + s*tj
    int rh, rw;  // input pixels hi = rh + s*qh, wi = rw + s*qw
    int ch, cw;  // ho = qh + ch - ti, wo = qw + cw - tj
    FastDivmod div_taps, div_taps_w, div_q, div_qw;
  };

  const float* dy;  // [B, Cout, Ho, Wo]
  const float* w;   // [Cout, Cin, KH, KW]
  float* dx;        // [B, Cin, H, W]
  int in_c, in_h, in_w, out_c, out_h, out_w, kh, kw, stride;
  int M, max_N;  // M = Cin; the grid covers the largest phase's N
  int phases;    // in this launch
  Phase phase[kMaxPhases];

  // Phases [first, first + count) of conv d, count <= kMaxPhases.
  ConvBackwardInput(const Conv2dDims& d, const float* dy_, const float* w_, float* dx_,
                    int first = 0, int count = kMaxPhases)
      : dy(dy_), w(w_), dx(dx_) {
    in_c = d.in_c, in_h = d.in_h, in_w = d.in_w, out_c = d.out_c;
    out_h = d.out_h(), out_w = d.out_w(), kh = d.kh, kw = d.kw, stride = d.stride;
    M = in_c;
    phases = std::min({count, kMaxPhases, d.stride * d.stride - first});
    max_N = 0;
    for (int z = 0; z < phases; ++z) {
      phase[z] = make_phase(d, first + z);
      max_N = std::max(max_N, phase[z].N);
    }
  }

  static Phase make_phase(const Conv2dDims& d, int z) {
    const int s = d.stride;
    Phase f{};
    f.ph = z / s, f.pw = z % s;
    // hi + pad = ph (mod s)  <=>  hi = (ph - pad) mod s (mod s).
    f.rh = ((f.ph - d.pad) % s + s) % s;
    f.rw = ((f.pw - d.pad) % s + s) % s;
    const int nh = f.rh < d.in_h ? (d.in_h - f.rh + s - 1) / s : 0;
    const int nw = f.rw < d.in_w ? (d.in_w - f.rw + s - 1) / s : 0;
    const int th = f.ph < d.kh ? (d.kh - f.ph + s - 1) / s : 0;
    const int tw = f.pw < d.kw ? (d.kw - f.pw + s - 1) / s : 0;
    // ho = (hi + pad - ki) / s = qh + (rh + pad - ph) / s - ti; the division is exact and >= 0.
    f.ch = (f.rh + d.pad - f.ph) / s;
    f.cw = (f.rw + d.pad - f.pw) / s;
    f.N = d.batch * nh * nw;
    f.K = d.out_c * th * tw;
    f.div_taps = FastDivmod(std::max(th * tw, 1));
    f.div_taps_w = FastDivmod(std::max(tw, 1));
    f.div_q = FastDivmod(std::max(nh * nw, 1));
    f.div_qw = FastDivmod(std::max(nw, 1));
    return f;
  }

  struct Slice;
  RM_HD Slice slice(int z) const;
};

struct ConvBackwardInput::Slice {
  const ConvBackwardInput& p;
  const Phase& f;
  int M, N, k_begin, k_end;

  struct Row {  // k = (co, ti, tj)
    int off, ti, tj;
  };
  struct Col {  // n = (b, qh, qw)
    int base, ho0, wo0;
  };
  RM_HD float a(int m, int k) const {
    int co, t, ti, tj;
    f.div_taps.divmod(k, co, t);
    f.div_taps_w.divmod(t, ti, tj);
    const int ki = f.ph + p.stride * ti, kj = f.pw + p.stride * tj;
    return p.w[((co * p.in_c + m) * p.kh + ki) * p.kw + kj];
  }
  RM_HD Row row(int k) const {
    int co, t, ti, tj;
    f.div_taps.divmod(k, co, t);
    f.div_taps_w.divmod(t, ti, tj);
    return {co * p.out_h * p.out_w - ti * p.out_w - tj, ti, tj};
  }
  RM_HD Col col(int n) const {
    int b, q, qh, qw;
    f.div_q.divmod(n, b, q);
    f.div_qw.divmod(q, qh, qw);
    const int ho0 = qh + f.ch, wo0 = qw + f.cw;
    return {b * p.out_c * p.out_h * p.out_w + ho0 * p.out_w + wo0, ho0, wo0};
  }
  // dy[b, co, ho0 - ti, wo0 - tj], zero outside the output map.
  RM_HD float b(const Row& r, const Col& c) const {
    const int ho = c.ho0 - r.ti, wo = c.wo0 - r.tj;
    return unsigned(ho) < unsigned(p.out_h) && unsigned(wo) < unsigned(p.out_w)
               ? p.dy[c.base + r.off]
               : 0.f;
  }
  RM_HD void store(int m, int n, float v) const {
    int b, q, qh, qw;
    f.div_q.divmod(n, b, q);
    f.div_qw.divmod(q, qh, qw);
    p.dx[((b * p.in_c + m) * p.in_h + f.rh + p.stride * qh) * p.in_w + f.rw + p.stride * qw] = v;
  }
};

RM_HD ConvBackwardInput::Slice ConvBackwardInput::slice(int z) const {
  const Phase& f = phase[z];
  return {*this, f, M, f.N, 0, f.K};
}

// --- backward_weight -------------------------------------------------------------------------
struct ConvBackwardWeight {
  static constexpr bool kBKMajor = true;  // B loads run along k (output positions are contiguous)
  const float* x;                         // [B, Cin, H, W]
  const float* dy;                        // [B, Cout, Ho, Wo]
  float* partial;                         // [splits, Cout, N]
  int M, N, K, chunk;                     // K = B*Ho*Wo, split z covers [z*chunk, (z+1)*chunk)
  int wsize;                              // Cin*KH*KW: column wsize (if N > wsize) is db
  int in_c, in_h, in_w, out_c, out_hw, stride, pad;
  FastDivmod div_out_hw, div_out_w, div_khkw, div_kw;

  ConvBackwardWeight(const Conv2dDims& d, const float* x_, const float* dy_, float* partial_,
                     bool with_bias, int chunk_)
      : x(x_), dy(dy_), partial(partial_) {
    M = d.out_c;
    wsize = d.in_c * d.kh * d.kw;
    N = wsize + (with_bias ? 1 : 0);
    K = d.batch * d.out_h() * d.out_w();
    chunk = chunk_;
    in_c = d.in_c, in_h = d.in_h, in_w = d.in_w, out_c = d.out_c;
    out_hw = d.out_h() * d.out_w(), stride = d.stride, pad = d.pad;
    div_out_hw = FastDivmod(out_hw), div_out_w = FastDivmod(d.out_w());
    div_khkw = FastDivmod(d.kh * d.kw), div_kw = FastDivmod(d.kw);
  }
  int splits() const { return (K + chunk - 1) / chunk; }

  struct Slice;
  RM_HD Slice slice(int z) const;
};

struct ConvBackwardWeight::Slice {
  const ConvBackwardWeight& p;
  int M, N, k_begin, k_end;
  float* out;  // this split's [Cout, N]

  struct Row {  // k = (b, ho, wo)
    int base, hi0, wi0;
  };
  struct Col {  // n = (ci, ki, kj), or the bias column
    int off, ki, kj;
    bool ones;
  };
  RM_HD float a(int m, int k) const {
    int b, q;
    p.div_out_hw.divmod(k, b, q);
    return p.dy[(b * p.out_c + m) * p.out_hw + q];
  }
  RM_HD Row row(int k) const {
    int b, q, ho, wo;
    p.div_out_hw.divmod(k, b, q);
    p.div_out_w.divmod(q, ho, wo);
    const int hi0 = ho * p.stride - p.pad, wi0 = wo * p.stride - p.pad;
    return {b * p.in_c * p.in_h * p.in_w + hi0 * p.in_w + wi0, hi0, wi0};
  }
  RM_HD Col col(int n) const {
    if (n >= p.wsize) return {0, 0, 0, true};
    int ci, r, ki, kj;
    p.div_khkw.divmod(n, ci, r);
    p.div_kw.divmod(r, ki, kj);
    return {(ci * p.in_h + ki) * p.in_w + kj, ki, kj, false};
  }
  // x[b, ci, hi0 + ki, wi0 + kj] (zero in the padding), or 1 in the bias column.
  RM_HD float b(const Row& r, const Col& c) const {
    if (c.ones) return 1.f;
    const int hi = r.hi0 + c.ki, wi = r.wi0 + c.kj;
    return unsigned(hi) < unsigned(p.in_h) && unsigned(wi) < unsigned(p.in_w) ? p.x[r.base + c.off]
                                                                              : 0.f;
  }
  RM_HD void store(int m, int n, float v) const { out[m * p.N + n] = v; }
};

RM_HD ConvBackwardWeight::Slice ConvBackwardWeight::slice(int z) const {
  const int lo = z * chunk;
  const int hi = lo + chunk < K ? lo + chunk : K;
  return {*this, M, N, lo, hi, partial + long(z) * M * N};
}

// Rows of the batch*Ho*Wo reduction per backward_weight split (a multiple of kBK) on a device
// with `sm_count` multiprocessors: enough splits for ~4 blocks per multiprocessor, at least 256
// rows each (the partial writes stay small next to the reads), at most 1024 splits and 256 MB
// of partials.
inline int weight_chunk(const Conv2dDims& d, int N, int sm_count) {
  const long M = d.out_c, K = long(d.batch) * d.out_h() * d.out_w();
  const TileShape t = tile_for(d.out_c);
  const long tiles = ((M + t.bm - 1) / t.bm) * ((N + t.bn - 1) / t.bn);
  long splits = (4L * sm_count + tiles - 1) / tiles;
  splits = std::min({splits, 1024L, K / 256, (256L << 20) / (4L * M * N)});
  splits = std::max(splits, 1L);
  long chunk = (K + splits - 1) / splits;
  chunk = (chunk + kBK - 1) / kBK * kBK;
  return int(chunk);
}

// Element i = m * N + n of the split sum: dw[m, n] += sum_z partial[z, m, n] for n < wsize,
// db[m] += sum_z partial[z, m, wsize]; splits added in order z = 0, 1, ... (deterministic).
RM_HD void add_splits(long i, int splits, int M, int N, int wsize, const float* partial, float* dw,
                      float* db) {
  const long total = long(M) * N;
  float acc = 0.f;
  for (int z = 0; z < splits; ++z) acc += partial[z * total + i];
  const int m = int(i / N), n = int(i % N);
  if (n < wsize)
    dw[long(m) * wsize + n] += acc;
  else
    db[m] += acc;
}

}  // namespace relmimic::kernels::igemm
