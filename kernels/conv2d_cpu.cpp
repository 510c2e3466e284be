// Conv2d on the CPU: im2col + GEMM over groups of g samples, groups spread over OpenMP threads.
// A group's columns sit side by side, col[K, g*N], so small maps still give GEMMs wide enough to
// pay for their packing (g = 1 for the large maps):
//   forward:         Y[Cout, g*N] = W[Cout, K] col[K, g*N] (+ b)     K = Cin*KH*KW, N = Ho*Wo
//   backward_input:  dcol[K, g*N] = W^T dY,  dx_b = col2im(dcol_b)
//   backward_weight: dW[Cout, K] += dY col^T,  db[Cout] += sum_{b,n} dy_b
// Single-sample groups of 1x1 stride-1 unpadded convs skip im2col: col is x_b itself.
// 1x1 convs with few channels on one side on small maps skip both: direct per-sample products
// (detail::pointwise_*, kernels/conv2d_pointwise_cpu.cpp), the same in float and double.
// In builds with oneDNN the float passes where its JIT kernels are faster go there instead
// (on_onednn below; kernels/conv2d_onednn.cpp); this code stays the reference.
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <type_traits>
#include <vector>

#include "kernels/common.h"
#include "kernels/conv2d.h"
#include "kernels/gemm.h"
#include "kernels/parallel_cpu.h"
#ifdef RELMIMIC_WITH_ONEDNN
#include "kernels/conv2d_onednn.h"
#endif

namespace relmimic::kernels {

bool cpu_conv_onednn_built() {
#ifdef RELMIMIC_WITH_ONEDNN
  return true;
#else
  return false;
#endif
}

const char* cpu_conv_name(CpuConv c) {
  return c == CpuConv::OneDnn ? "onednn" : "reference";
}

CpuConv parse_cpu_conv(const char* value) {
  const std::string v = value ? value : "";
  RM_CHECK(v == "onednn" || v == "reference",
           "RELMIMIC_CPU_CONV must be onednn or reference, got '", v, "'");
  const CpuConv c = v == "onednn" ? CpuConv::OneDnn : CpuConv::Reference;
  RM_CHECK(c == CpuConv::Reference || cpu_conv_onednn_built(),
           "RELMIMIC_CPU_CONV=onednn: relmimic was built without oneDNN (Debian libdnnl-dev; CMake "
           "RELMIMIC_ONEDNN)");
  return c;
}

namespace {
// -1: not chosen yet; else a CpuConv.
std::atomic<int> g_cpu_conv{-1};
}  // namespace

CpuConv cpu_conv() {
  int c = g_cpu_conv.load(std::memory_order_relaxed);
  if (c < 0) {
    const char* env = std::getenv("RELMIMIC_CPU_CONV");
    const CpuConv chosen = env && *env               ? parse_cpu_conv(env)
                           : cpu_conv_onednn_built() ? CpuConv::OneDnn
                                                     : CpuConv::Reference;
    c = int(chosen);
    g_cpu_conv.store(c, std::memory_order_relaxed);
  }
  return CpuConv(c);
}

void set_cpu_conv(CpuConv c) {
  RM_CHECK(c == CpuConv::Reference || cpu_conv_onednn_built(),
           "set_cpu_conv(onednn): relmimic was built without oneDNN");
  g_cpu_conv.store(int(c), std::memory_order_relaxed);
}

int cpu_conv_block() {
#ifdef RELMIMIC_WITH_ONEDNN
  return cpu_conv() == CpuConv::OneDnn ? onednn::activation_block() : 0;
#else
  return 0;
#endif
}

namespace {
// Element (b, ch, i, j) of [n, c, h, w] sits at ((b * c/B + ch/B) * h + i) * w * B + j * B + ch % B
// in nChw<B>c. With oneDNN's convolutions selected, oneDNN's reorder does the copy (JIT, threaded:
// conv1's dy in the reward net goes through it, ~7 MB at 84x84 and batch 32); on the reference
// backend, which allocates nothing and calls no oneDNN code, plain loops do.
template <bool kToBlocked>
void copy_blocked(int n, int c, int h, int w, const float* src, float* dst, const char* who) {
#ifndef RELMIMIC_WITH_ONEDNN
  (void)n, (void)c, (void)h, (void)w, (void)src, (void)dst;
  RM_FAIL(who, ": no blocked activation layout in a build without oneDNN");
#else
  const int B = onednn::activation_block();
  RM_CHECK(B > 0, who, ": no blocked activation layout (oneDNN uses none on this CPU)");
  RM_CHECK(n >= 0 && c % B == 0 && h >= 0 && w >= 0, who, ": ", c,
           " channels are not a multiple of the block ", B);
  if (long(n) * c * h * w == 0) return;
  if (cpu_conv() == CpuConv::OneDnn)
    return onednn::reorder_activation(n, c, h, w, src, dst, kToBlocked);
  const long hw = long(h) * w;
  for (long b = 0; b < n; ++b)
    for (int cb = 0; cb < c / B; ++cb)
      for (int k = 0; k < B; ++k)
        for (long p = 0; p < hw; ++p) {
          const long plain = (b * c + long(cb) * B + k) * hw + p;
          const long blocked = ((b * (c / B) + cb) * hw + p) * B + k;
          if constexpr (kToBlocked)
            dst[blocked] = src[plain];
          else
            dst[plain] = src[blocked];
        }
#endif
}
}  // namespace

void cpu_nchw_to_blocked(int n, int c, int h, int w, const float* src, float* dst) {
  copy_blocked<true>(n, c, h, w, src, dst, "cpu_nchw_to_blocked");
}

void cpu_blocked_to_nchw(int n, int c, int h, int w, const float* src, float* dst) {
  copy_blocked<false>(n, c, h, w, src, dst, "cpu_blocked_to_nchw");
}

void check_conv2d_dims(const Conv2dDims& d, const char* who) {
  RM_CHECK(d.batch >= 1 && d.in_c >= 1 && d.in_h >= 1 && d.in_w >= 1 && d.out_c >= 1, who,
           ": sizes must be positive (batch=", d.batch, " in_c=", d.in_c, " in_h=", d.in_h,
           " in_w=", d.in_w, " out_c=", d.out_c, ")");
  RM_CHECK(d.kh >= 1 && d.kw >= 1 && d.stride >= 1 && d.pad >= 0, who, ": bad kernel ", d.kh, "x",
           d.kw, " stride ", d.stride, " pad ", d.pad);
  RM_CHECK(d.in_h + 2 * d.pad >= d.kh && d.in_w + 2 * d.pad >= d.kw, who, ": kernel ", d.kh, "x",
           d.kw, " larger than the padded input ", d.in_h + 2 * d.pad, "x", d.in_w + 2 * d.pad);
}

namespace {

// Per-thread scratch that only grows, so steady-state calls allocate nothing.
enum Slot {
  kCol = 0,
  kRows = 1,
  kPartial = 2,
  kPlainIn = 3,
  kPlainOut = 4,
  kFlipped = 5,
  kPhases = 6,
  kPhaseWeights = 7,
  kSlots = 8
};
template <class T>
T* scratch(Slot slot, size_t n) {
  thread_local std::vector<T> bufs[kSlots];
  std::vector<T>& v = bufs[slot];
  if (v.size() < n) v.resize(n);
  return v.data();
}

// Upper bound on threads that keep a partial dW (a fixed array, no allocation per call).
constexpr int kMaxThreads = 256;
// Columns a GEMM should have at least: below this OpenBLAS spends more time packing and
// writing C than multiplying (e.g. the reward net's 5x5 and 10x10 maps).
constexpr int kMinColumns = 256;

// Multiply-adds of one pass over the whole batch.
double conv_macs(const Conv2dDims& d) {
  return double(d.batch) * d.out_size() * d.in_c * d.kh * d.kw;
}

bool is_pointwise(const Conv2dDims& d) {
  return d.kh == 1 && d.kw == 1 && d.stride == 1 && d.pad == 0;
}

// Where oneDNN runs a float pass (bench/results/cpu_conv_onednn.txt: 2 cores, AVX-512, batch 8
// to 128, reorders included): the forward of every conv with a spatial kernel (the 5x5 and 4x4
// stems 1.5-3.6x, the reward net's conv2-5 1.4-1.9x); the backward passes from 32 input channels
// on (the reward net's conv2-5, 1.3-2x), since on the stems and the ResBlocks' small convs
// im2col + GEMM is faster, 2-20x so for oneDNN's backward weights of the stems at batch 8; and
// the backward weights of stride-1 spatial convs with fewer channels too (the agent ResBlocks'
// 3x3 convs on 4 and 8 channels: 1.4-3.4x at batch 8 to 128 on 1 and 2 threads,
// bench/results/cpu_agent_pool.txt), while their backward input runs as oneDNN's forward with
// the flipped kernel (backward_input_as_forward; oneDNN's own backward input loses on 4
// channels), and the backward passes of stride-2 convs with even kernels (the reward net's
// conv1) run as oneDNN's stride-1 conv over the input's four phases (phase_split). 1x1 convs
// stay on GEMM in every pass.
enum class Pass { forward, backward_input, backward_weight };
[[maybe_unused]] bool on_onednn(const Conv2dDims& d, Pass pass) {
  if (d.kh == 1 && d.kw == 1) return false;
  if (pass != Pass::forward && d.in_c < 32 && !(pass == Pass::backward_weight && d.stride == 1))
    return false;
  return cpu_conv() == CpuConv::OneDnn;
}

// Output columns wo whose input column wo*s - p + kj lies inside [0, W): [lo, hi).
struct Span {
  int lo, hi;
};
Span valid_span(int out, int in, int s, int p, int k) {
  const int a = p - k;           // wo >= ceil(a / s)
  const int b = in - 1 + p - k;  // wo <= floor(b / s)
  const int lo = a <= 0 ? 0 : (a + s - 1) / s;
  const int hi = b < 0 ? 0 : std::min(out, b / s + 1);
  return {std::min(lo, hi), hi};
}

// dst[i] = src[i * S] for i in [lo, hi). A compile-time stride lets the compiler vectorise the
// gather with loads and shuffles; the networks use strides 1, 2 and 4.
template <int S, class T>
void gather(const T* __restrict__ src, T* __restrict__ dst, int lo, int hi) {
  for (int i = lo; i < hi; ++i) dst[i] = src[long(i) * S];
}
template <class T>
void gather(const T* src, T* dst, int lo, int hi, int s) {
  switch (s) {
    case 1:
      std::memcpy(dst + lo, src + lo, sizeof(T) * size_t(hi - lo));
      return;
    case 2:
      gather<2>(src, dst, lo, hi);
      return;
    case 4:
      gather<4>(src, dst, lo, hi);
      return;
    default:
      for (int i = lo; i < hi; ++i) dst[i] = src[long(i) * s];
  }
}

// dst[i * S] += src[i] for i in [lo, hi): the adjoint of gather.
template <int S, class T>
void scatter_add(const T* __restrict__ src, T* __restrict__ dst, int lo, int hi) {
  for (int i = lo; i < hi; ++i) dst[long(i) * S] += src[i];
}
template <class T>
void scatter_add(const T* src, T* dst, int lo, int hi, int s) {
  switch (s) {
    case 1:
      scatter_add<1>(src, dst, lo, hi);
      return;
    case 2:
      scatter_add<2>(src, dst, lo, hi);
      return;
    case 4:
      scatter_add<4>(src, dst, lo, hi);
      return;
    default:
      for (int i = lo; i < hi; ++i) dst[long(i) * s] += src[i];
  }
}

// col[(c*KH + ki)*KW + kj, ho*Wo + wo] = x[c, ho*s - p + ki, wo*s - p + kj] (0 outside); col's
// rows are ld apart (ld = g*N when g samples share it).
template <class T>
void im2col(const Conv2dDims& d, const T* x, T* col, long ld) {
  const int Ho = d.out_h(), Wo = d.out_w(), s = d.stride, p = d.pad;
  for (int c = 0; c < d.in_c; ++c) {
    for (int ki = 0; ki < d.kh; ++ki) {
      for (int kj = 0; kj < d.kw; ++kj) {
        T* dst = col + long((c * d.kh + ki) * d.kw + kj) * ld;
        const Span sp = valid_span(Wo, d.in_w, s, p, kj);
        for (int ho = 0; ho < Ho; ++ho, dst += Wo) {
          const int hi = ho * s - p + ki;
          if (hi < 0 || hi >= d.in_h) {
            std::fill(dst, dst + Wo, T(0));
            continue;
          }
          const T* src = x + (long(c) * d.in_h + hi) * d.in_w - p + kj;  // src[wo*s] = x[.., wi]
          std::fill(dst, dst + sp.lo, T(0));
          gather(src, dst, sp.lo, sp.hi, s);
          std::fill(dst + sp.hi, dst + Wo, T(0));
        }
      }
    }
  }
}

// The adjoint of im2col: dx[c, hi, wi] = sum of the col entries that read it. Overwrites dx.
template <class T>
void col2im(const Conv2dDims& d, const T* col, long ld, T* dx) {
  const int Ho = d.out_h(), Wo = d.out_w(), s = d.stride, p = d.pad;
  std::fill(dx, dx + d.in_size(), T(0));
  for (int c = 0; c < d.in_c; ++c) {
    for (int ki = 0; ki < d.kh; ++ki) {
      for (int kj = 0; kj < d.kw; ++kj) {
        const T* src = col + long((c * d.kh + ki) * d.kw + kj) * ld;
        const Span sp = valid_span(Wo, d.in_w, s, p, kj);
        for (int ho = 0; ho < Ho; ++ho, src += Wo) {
          const int hi = ho * s - p + ki;
          if (hi < 0 || hi >= d.in_h) continue;
          T* dst = dx + (long(c) * d.in_h + hi) * d.in_w - p + kj;
          scatter_add(src, dst, sp.lo, sp.hi, s);
        }
      }
    }
  }
}

// Sample groups: g samples per GEMM, the last group possibly shorter. When the groups run on
// `threads` threads their count is rounded up to a multiple of it where that keeps groups of at
// least half kMinColumns: 3 groups on 2 threads would leave one thread idle a third of the time
// (the reward net's 5x5 and 3x3 maps at batch 32-128).
struct Groups {
  int g, count;
  Groups(const Conv2dDims& d, int threads) {
    const int N = d.out_h() * d.out_w();
    g = std::clamp((kMinColumns + N - 1) / N, 1, d.batch);
    count = (d.batch + g - 1) / g;
    if (threads > 1 && count % threads != 0) {
      const int want = (count + threads - 1) / threads * threads;
      const int g2 = std::max(1, (d.batch + want - 1) / want);
      if (long(g2) * N * 2 >= kMinColumns || g2 == 1) {
        g = g2;
        count = (d.batch + g - 1) / g;
      }
    }
  }
  int first(int i) const { return i * g; }
  int size(const Conv2dDims& d, int i) const { return std::min(g, d.batch - i * g); }
};

// The columns of samples [s0, s0 + ns): x_s itself for a lone 1x1 sample, else im2col into
// the thread's scratch [K, ns*N].
template <class T>
const T* columns(const Conv2dDims& d, const T* x, int s0, int ns) {
  const long N = long(d.out_h()) * d.out_w(), ld = ns * N;
  if (ns == 1 && is_pointwise(d)) return x + s0 * d.in_size();
  T* col = scratch<T>(kCol, size_t(d.in_c * d.kh * d.kw) * size_t(ld));
  for (int j = 0; j < ns; ++j) im2col(d, x + (s0 + j) * d.in_size(), col + j * N, ld);
  return col;
}

// dy of samples [s0, s0 + ns) as one matrix [Cout, ns*N]: dy_s itself for a lone sample.
template <class T>
const T* gathered_rows(const Conv2dDims& d, const T* dy, int s0, int ns) {
  const long N = long(d.out_h()) * d.out_w(), ld = ns * N;
  if (ns == 1) return dy + s0 * d.out_size();
  T* rows = scratch<T>(kRows, size_t(d.out_c) * size_t(ld));
  for (int j = 0; j < ns; ++j)
    for (int co = 0; co < d.out_c; ++co)
      std::memcpy(rows + co * ld + j * N, dy + (s0 + j) * d.out_size() + co * N,
                  sizeof(T) * size_t(N));
  return rows;
}

// Items [lo, hi) of thread t out of n threads: contiguous, fixed for a given (count, n).
inline int chunk_begin(int count, int n, int t) {
  return int(long(count) * t / n);
}

// Whether a pass has blocked tensors (Conv2dDims::blocked_in / blocked_out); they exist only
// for float in builds with oneDNN.
template <class T>
bool has_blocked(const Conv2dDims& d, const char* who) {
  if (!d.blocked_in && !d.blocked_out) return false;
  RM_CHECK((std::is_same_v<T, float> && cpu_conv_onednn_built()), who,
           ": blocked activations are float tensors of builds with oneDNN");
  return true;
}

#ifdef RELMIMIC_WITH_ONEDNN
// The same dims with every tensor NCHW.
Conv2dDims nchw(Conv2dDims d) {
  d.blocked_in = d.blocked_out = false;
  return d;
}

// An NCHW copy of the input-side (x, dx) or output-side (y, dy) tensor p in per-thread scratch,
// or p itself when it is NCHW already. copy: fill it from p (an input of the pass).
float* plain_side(const Conv2dDims& d, bool input_side, const float* p, bool copy) {
  const bool blocked = input_side ? d.blocked_in : d.blocked_out;
  if (!blocked) return const_cast<float*>(p);
  const int c = input_side ? d.in_c : d.out_c, h = input_side ? d.in_h : d.out_h(),
            w = input_side ? d.in_w : d.out_w();
  float* buf = scratch<float>(input_side ? kPlainIn : kPlainOut, size_t(d.batch) * c * h * w);
  if (copy) cpu_blocked_to_nchw(d.batch, c, h, w, p, buf);
  return buf;
}

// Writes an NCHW result back into the blocked tensor p, if it is one.
void to_side(const Conv2dDims& d, bool input_side, const float* plain, float* p) {
  if (plain == p) return;
  if (input_side)
    cpu_nchw_to_blocked(d.batch, d.in_c, d.in_h, d.in_w, plain, p);
  else
    cpu_nchw_to_blocked(d.batch, d.out_c, d.out_h(), d.out_w(), plain, p);
}
#endif

}  // namespace

template <class T>
void conv2d_forward_cpu(const Conv2dDims& d, const T* x, const T* w, const T* b, T* y) {
  check_conv2d_dims(d, "conv2d_forward_cpu");
  RM_CHECK(x && w && y, "conv2d_forward_cpu: null x, w or y");
  // Throws for blocked tensors where they cannot exist (double, builds without oneDNN).
  [[maybe_unused]] const bool blocked = has_blocked<T>(d, "conv2d_forward_cpu");
#ifdef RELMIMIC_WITH_ONEDNN
  if constexpr (std::is_same_v<T, float>) {
    if (on_onednn(d, Pass::forward) && onednn::forward(d, x, w, b, y)) return;
    if (blocked) {  // the reference, on NCHW copies
      float* yp = plain_side(d, false, y, false);
      conv2d_forward_cpu<float>(nchw(d), plain_side(d, true, x, true), w, b, yp);
      return to_side(d, false, yp, y);
    }
  }
#endif
  if (detail::pointwise_direct(d, false)) return detail::pointwise_forward_cpu(d, x, w, b, y);
  const int N = d.out_h() * d.out_w(), K = d.in_c * d.kh * d.kw, C = d.out_c;
  const int threads = cpu_threads(conv_macs(d));
  const Groups gr(d, threads);
  // One group per iteration; a single group runs outside any region, so the GEMM itself may use
  // every thread.
  const bool par = gr.count > 1 && threads > 1;
  for_each_index(par, gr.count, [&](int i) {
    const int s0 = gr.first(i), ns = gr.size(d, i);
    const long ld = long(ns) * N;
    const T* col = columns(d, x, s0, ns);
    T* out = ns == 1 ? y + s0 * d.out_size() : scratch<T>(kRows, size_t(C) * size_t(ld));
    gemm_cpu<T>(false, false, C, int(ld), K, T(1), w, K, col, int(ld), T(0), out, int(ld));
    for (int j = 0; j < ns; ++j) {
      for (int co = 0; co < C; ++co) {
        const T* src = out + co * ld + j * N;
        T* dst = y + (s0 + j) * d.out_size() + co * N;
        const T bias = b ? b[co] : T(0);
        if (src == dst && !b) continue;
#pragma omp simd
        for (int n = 0; n < N; ++n) dst[n] = src[n] + bias;
      }
    }
  });
}

#ifdef RELMIMIC_WITH_ONEDNN
namespace {
// A stride-1 conv with an odd square kernel padded to keep the map's size: its input gradient is
// the forward convolution of dy with the kernel turned by 180 degrees and its channels swapped.
bool same_padded_stride1(const Conv2dDims& d) {
  return d.stride == 1 && d.kh == d.kw && d.kh % 2 == 1 && d.kh > 1 && d.pad == d.kh / 2;
}

// dx through oneDNN's forward with the flipped kernel, for the same-padded convs whose input
// gradient on_onednn keeps off oneDNN's backward (the agent ResBlocks' 3x3 convs on 4 and 8
// channels): 1.8-3x im2col + GEMM's col2im at 12x12 and 21x21 maps, batch 8 and 128, one
// thread (bench_conv_cpu Conv/agent_res_3x3_*: fwd/onednn against bwd_input/im2col_gemm).
bool backward_input_as_forward(const Conv2dDims& d, const float* dy, const float* w, float* dx) {
  if (!same_padded_stride1(d) || cpu_conv() != CpuConv::OneDnn) return false;
  const int k = d.kh, taps = k * k;
  float* wt = scratch<float>(kFlipped, size_t(d.weight_size()));
  for (int co = 0; co < d.out_c; ++co)
    for (int ci = 0; ci < d.in_c; ++ci) {
      const float* src = w + (long(co) * d.in_c + ci) * taps;
      float* dst = wt + (long(ci) * d.out_c + co) * taps;
      for (int t = 0; t < taps; ++t) dst[taps - 1 - t] = src[t];
    }
  Conv2dDims t = d;
  t.in_c = d.out_c, t.out_c = d.in_c;
  t.blocked_in = d.blocked_out, t.blocked_out = d.blocked_in;
  return onednn::forward(t, dy, wt, nullptr, dx);
}

// A stride-2 conv whose kernel has even sides is a stride-1 conv with half the kernel over the
// input's four phases stacked as channels (space to depth): channel c*4 + r*2 + s of the phase
// tensor holds S[m][m'] = x_padded[2m + r][2m' + s], and kernel tap (2i + r, 2j + s) of channel c
// becomes tap (i, j) of that channel. With 4x the input channels oneDNN's backward passes beat
// im2col + GEMM where on_onednn keeps the stem-like convs (fewer than 32 input channels, NCHW
// input) off them: the reward net's conv1 on 4 frames (bench_conv_cpu Conv/reward_conv1_*:
// bwd_input/onednn and bwd_weight/onednn). The phase tensor is written in oneDNN's blocked
// layout when its channels fill whole blocks, so the primitive reads it without a reorder.
bool phase_split(const Conv2dDims& d) {
  return d.stride == 2 && d.kh % 2 == 0 && d.kw % 2 == 0 && !d.blocked_in &&
         cpu_conv() == CpuConv::OneDnn;
}

// The stride-1 conv over the phase tensor: same output, half the kernel, no padding.
Conv2dDims phase_dims(const Conv2dDims& d) {
  Conv2dDims p = d;
  p.in_c = 4 * d.in_c, p.kh = d.kh / 2, p.kw = d.kw / 2, p.stride = 1, p.pad = 0;
  p.in_h = d.out_h() + p.kh - 1, p.in_w = d.out_w() + p.kw - 1;
  const int B = onednn::activation_block();
  p.blocked_in = B > 0 && p.in_c % B == 0;
  return p;
}

// The phase tensor of d's input: where its element (n, k, m, m') lives (NCHW, or blocked by B
// channels), and which of its columns lie inside the input. Phase (r, s) of row m, column m' is
// input pixel (2m + r - pad, 2m' + s - pad); columns m' in [lo[s], hi[s]) of phase s are inside.
struct PhaseMap {
  const Conv2dDims &d, &p;
  long B, blocks, plane;
  int lo[2], hi[2];
  PhaseMap(const Conv2dDims& conv, const Conv2dDims& phases)
      : d(conv),
        p(phases),
        B(p.blocked_in ? onednn::activation_block() : 1),
        blocks(p.in_c / B),
        plane(long(p.in_h) * p.in_w) {
    for (int s = 0; s < 2; ++s) {  // 0 <= 2m' + s - pad < W
      lo[s] = std::min(p.in_w, std::max(0, (d.pad - s + 1) / 2));
      hi[s] = std::max(lo[s], std::min(p.in_w, (d.in_w - 1 + d.pad - s) / 2 + 1));
    }
  }
  long at(long n, long k, long m) const {
    return ((n * blocks + k / B) * plane + m * p.in_w) * B + k % B;
  }
  // body(n) for every sample, split over the threads.
  template <class F>
  void each_sample(F body) const {
    for_each_index(cpu_threads(double(d.batch) * p.in_size()) > 1, d.batch, body);
  }
};

// x (NCHW) -> the phase tensor S, zero where a phase pixel lies in the padding.
void phase_pack(const PhaseMap& f, const float* x, float* S) {
  const Conv2dDims &d = f.d, &p = f.p;
  const int H = d.in_h, W = d.in_w, B = int(f.B);
  f.each_sample([&](int n) {
    for (int c = 0; c < d.in_c; ++c) {
      const float* xc = x + (long(n) * d.in_c + c) * H * W;
      for (int r = 0; r < 2; ++r)
        for (int m = 0; m < p.in_h; ++m) {
          const int u = 2 * m + r - d.pad;
          const bool inside = u >= 0 && u < H;
          for (int s = 0; s < 2; ++s) {
            float* row = S + f.at(n, c * 4 + r * 2 + s, m);
            const int lo = inside ? f.lo[s] : p.in_w, hi = inside ? f.hi[s] : p.in_w;
            const float* xr = xc + long(inside ? u : 0) * W;
            for (int mw = 0; mw < lo; ++mw) row[mw * B] = 0.f;
            for (int mw = lo; mw < hi; ++mw) row[mw * B] = xr[2 * mw + s - d.pad];
            for (int mw = hi; mw < p.in_w; ++mw) row[mw * B] = 0.f;
          }
        }
    }
  });
}

// dS -> dx (NCHW, overwritten); input pixels that no output sees get 0.
void phase_unpack(const PhaseMap& f, const float* dS, float* dx) {
  const Conv2dDims &d = f.d, &p = f.p;
  const int H = d.in_h, W = d.in_w, B = int(f.B);
  // Columns from here on lie beyond the last phase column: no output sees them.
  const int unseen = std::max(0, 2 * std::max(f.hi[0], f.hi[1]) - d.pad);
  f.each_sample([&](int n) {
    for (int c = 0; c < d.in_c; ++c)
      for (int u = 0; u < H; ++u) {
        const int m = (u + d.pad) / 2, r = (u + d.pad) % 2;
        float* dr = dx + ((long(n) * d.in_c + c) * H + u) * W;
        if (m >= p.in_h) {
          std::fill(dr, dr + W, 0.f);
          continue;
        }
        for (int s = 0; s < 2; ++s) {
          const float* row = dS + f.at(n, c * 4 + r * 2 + s, m);
          for (int mw = f.lo[s]; mw < f.hi[s]; ++mw) dr[2 * mw + s - d.pad] = row[mw * B];
        }
        if (unseen < W) std::fill(dr + unseen, dr + W, 0.f);
      }
  });
}

// f(t, i) for every tap of the phase kernel ([out_c, 4 in_c, kh/2, kw/2]): t its index there, i
// the same tap's index in the original [out_c, in_c, kh, kw] weights (tap (2a + r, 2b + s) of
// channel c is tap (a, b) of phase channel c*4 + r*2 + s).
template <class F>
void each_phase_tap(const Conv2dDims& d, const Conv2dDims& p, F f) {
  long t = 0;
  for (int o = 0; o < d.out_c; ++o)
    for (int c = 0; c < d.in_c; ++c)
      for (int rs = 0; rs < 4; ++rs)
        for (int a = 0; a < p.kh; ++a)
          for (int b = 0; b < p.kw; ++b)
            f(t++, ((long(o) * d.in_c + c) * d.kh + 2 * a + rs / 2) * d.kw + 2 * b + rs % 2);
}

bool backward_input_phased(const Conv2dDims& d, const float* dy, const float* w, float* dx) {
  if (!phase_split(d)) return false;
  const Conv2dDims p = phase_dims(d);
  float* w2 = scratch<float>(kPhaseWeights, size_t(p.weight_size()));
  each_phase_tap(d, p, [&](long t, long i) { w2[t] = w[i]; });
  float* ds = scratch<float>(kPhases, size_t(d.batch) * size_t(p.in_size()));
  if (!onednn::backward_input(p, dy, w2, ds)) return false;
  phase_unpack(PhaseMap(d, p), ds, dx);
  return true;
}

bool backward_weight_phased(const Conv2dDims& d, const float* x, const float* dy, float* dw,
                            float* db) {
  if (!phase_split(d)) return false;
  const Conv2dDims p = phase_dims(d);
  float* s = scratch<float>(kPhases, size_t(d.batch) * size_t(p.in_size()));
  phase_pack(PhaseMap(d, p), x, s);
  float* dw2 = scratch<float>(kPhaseWeights, size_t(p.weight_size()));
  std::fill(dw2, dw2 + p.weight_size(), 0.f);
  if (!onednn::backward_weight(p, s, dy, dw2, db)) return false;
  each_phase_tap(d, p, [&](long t, long i) { dw[i] += dw2[t]; });
  return true;
}
}  // namespace
#endif

template <class T>
void conv2d_backward_input_cpu(const Conv2dDims& d, const T* dy, const T* w, T* dx) {
  check_conv2d_dims(d, "conv2d_backward_input_cpu");
  RM_CHECK(dy && w && dx, "conv2d_backward_input_cpu: null dy, w or dx");
  // Throws for blocked tensors where they cannot exist (double, builds without oneDNN).
  [[maybe_unused]] const bool blocked = has_blocked<T>(d, "conv2d_backward_input_cpu");
#ifdef RELMIMIC_WITH_ONEDNN
  if constexpr (std::is_same_v<T, float>) {
    if (on_onednn(d, Pass::backward_input)
            ? onednn::backward_input(d, dy, w, dx)
            : backward_input_as_forward(d, dy, w, dx) || backward_input_phased(d, dy, w, dx))
      return;
    if (blocked) {
      float* dxp = plain_side(d, true, dx, false);
      conv2d_backward_input_cpu<float>(nchw(d), plain_side(d, false, dy, true), w, dxp);
      return to_side(d, true, dxp, dx);
    }
  }
#endif
  if (detail::pointwise_direct(d, true)) return detail::pointwise_backward_input_cpu(d, dy, w, dx);
  const int N = d.out_h() * d.out_w(), K = d.in_c * d.kh * d.kw, C = d.out_c;
  const int threads = cpu_threads(conv_macs(d));
  const Groups gr(d, threads);
  const bool par = gr.count > 1 && threads > 1;
  for_each_index(par, gr.count, [&](int i) {
    const int s0 = gr.first(i), ns = gr.size(d, i);
    const long ld = long(ns) * N;
    const T* rows = gathered_rows(d, dy, s0, ns);
    if (ns == 1 && is_pointwise(d)) {
      gemm_cpu<T>(true, false, K, N, C, T(1), w, K, rows, N, T(0), dx + s0 * d.in_size(), N);
      return;
    }
    T* dcol = scratch<T>(kCol, size_t(K) * size_t(ld));
    gemm_cpu<T>(true, false, K, int(ld), C, T(1), w, K, rows, int(ld), T(0), dcol, int(ld));
    for (int j = 0; j < ns; ++j) col2im(d, dcol + j * N, ld, dx + (s0 + j) * d.in_size());
  });
}

template <class T>
void conv2d_backward_weight_cpu(const Conv2dDims& d, const T* x, const T* dy, T* dw, T* db) {
  check_conv2d_dims(d, "conv2d_backward_weight_cpu");
  RM_CHECK(x && dy && dw, "conv2d_backward_weight_cpu: null x, dy or dw");
  // Throws for blocked tensors where they cannot exist (double, builds without oneDNN).
  [[maybe_unused]] const bool blocked = has_blocked<T>(d, "conv2d_backward_weight_cpu");
#ifdef RELMIMIC_WITH_ONEDNN
  if constexpr (std::is_same_v<T, float>) {
    if (on_onednn(d, Pass::backward_weight) ? onednn::backward_weight(d, x, dy, dw, db)
                                            : backward_weight_phased(d, x, dy, dw, db))
      return;
    if (blocked)
      return conv2d_backward_weight_cpu<float>(nchw(d), plain_side(d, true, x, true),
                                               plain_side(d, false, dy, true), dw, db);
  }
#endif
  if (detail::pointwise_direct(d, false))
    return detail::pointwise_backward_weight_cpu(d, x, dy, dw, db);
  const int N = d.out_h() * d.out_w(), K = d.in_c * d.kh * d.kw, C = d.out_c;
  const long wsize = long(C) * K;
  const int team = cpu_threads(conv_macs(d));
  const Groups gr(d, team);
  const int threads = std::min({team, gr.count, kMaxThreads});
  T* partial[kMaxThreads];  // thread t's [dW | db]; thread 0 accumulates into dw, db directly

  // Accumulates groups [lo, hi) into (gw, gb).
  auto accumulate = [&](int lo, int hi, T* gw, T* gb) {
    for (int i = lo; i < hi; ++i) {
      const int s0 = gr.first(i), ns = gr.size(d, i);
      const int ld = ns * N;
      const T* col = columns(d, x, s0, ns);
      const T* rows = gathered_rows(d, dy, s0, ns);
      gemm_cpu<T>(false, true, C, K, ld, T(1), rows, ld, col, ld, T(1), gw, K);
      if (gb) {
        for (int co = 0; co < C; ++co) {
          const T* row = rows + long(co) * ld;
          T acc = T(0);
#pragma omp simd reduction(+ : acc)
          for (int n = 0; n < ld; ++n) acc += row[n];
          gb[co] += acc;
        }
      }
    }
  };

  if (threads == 1) {
    accumulate(0, gr.count, dw, db);
    return;
  }
#pragma omp parallel num_threads(threads)
  {
    const int t = omp_get_thread_num(), n = omp_get_num_threads();
    const int lo = chunk_begin(gr.count, n, t), hi = chunk_begin(gr.count, n, t + 1);
    if (t == 0) {
      accumulate(lo, hi, dw, db);
    } else {
      T* p = scratch<T>(kPartial, size_t(wsize + C));
      std::fill(p, p + wsize + C, T(0));
      partial[t] = p;
      accumulate(lo, hi, p, db ? p + wsize : nullptr);
    }
#pragma omp barrier
    // Fixed summation order (thread 1, 2, ...) so results do not depend on timing.
#pragma omp for schedule(static)
    for (long i = 0; i < wsize; ++i) {
      T acc = dw[i];
      for (int u = 1; u < n; ++u) acc += partial[u][i];
      dw[i] = acc;
    }
    if (db) {
#pragma omp single
      for (int co = 0; co < C; ++co) {
        for (int u = 1; u < n; ++u) db[co] += partial[u][wsize + co];
      }
    }
  }
}

template void conv2d_forward_cpu<float>(const Conv2dDims&, const float*, const float*, const float*,
                                        float*);
template void conv2d_forward_cpu<double>(const Conv2dDims&, const double*, const double*,
                                         const double*, double*);
template void conv2d_backward_input_cpu<float>(const Conv2dDims&, const float*, const float*,
                                               float*);
template void conv2d_backward_input_cpu<double>(const Conv2dDims&, const double*, const double*,
                                                double*);
template void conv2d_backward_weight_cpu<float>(const Conv2dDims&, const float*, const float*,
                                                float*, float*);
template void conv2d_backward_weight_cpu<double>(const Conv2dDims&, const double*, const double*,
                                                 double*, double*);

}  // namespace relmimic::kernels
