// 2-D convolution, NCHW, cross-correlation (as in every DL framework).
// x [B, Cin, H, W], w [Cout, Cin, KH, KW], b [Cout], y [B, Cout, Ho, Wo].
#pragma once

#include "kernels/cuda_types.h"

namespace relmimic::kernels {

struct Conv2dDims {
  int batch = 1, in_c = 1, in_h = 1, in_w = 1;
  int out_c = 1, kh = 1, kw = 1, stride = 1, pad = 0;
  // CPU float only (kernels/conv2d_cpu.cpp): x and dx (blocked_in), y and dy (blocked_out) are in
  // oneDNN's blocked activation layout nChw<B>c, B = cpu_conv_block(), instead of NCHW. The
  // channels must be a multiple of B, so a blocked tensor has as many elements as the NCHW one
  // and each sample's block stays contiguous; element-wise layers work on it unchanged. A
  // chain of convolutions that passes blocked tensors skips oneDNN's reorders between them.
  bool blocked_in = false, blocked_out = false;
  int out_h() const { return (in_h + 2 * pad - kh) / stride + 1; }
  int out_w() const { return (in_w + 2 * pad - kw) / stride + 1; }
  long in_size() const { return long(in_c) * in_h * in_w; }          // per sample
  long out_size() const { return long(out_c) * out_h() * out_w(); }  // per sample
  long weight_size() const { return long(out_c) * in_c * kh * kw; }
};

// Throws naming `who` unless the sizes, kernel, stride and padding describe a valid convolution.
// Both backends check with it.
void check_conv2d_dims(const Conv2dDims& d, const char* who);

// The CPU backend of the float convolutions. OneDnn: oneDNN's JIT kernels for the passes and
// shapes where they beat im2col + GEMM (conv2d_cpu.cpp says which), the reference elsewhere; the
// default in builds with oneDNN (CMake RELMIMIC_ONEDNN). Reference: im2col + GEMM everywhere;
// the only choice without oneDNN, and always for double. RELMIMIC_CPU_CONV=onednn|reference,
// read at the first convolution, overrides the default; set_cpu_conv overrides both (throws for
// OneDnn in a build without it).
enum class CpuConv { Reference, OneDnn };
bool cpu_conv_onednn_built();
CpuConv parse_cpu_conv(const char* value);  // "onednn" | "reference"; throws otherwise
CpuConv cpu_conv();
void set_cpu_conv(CpuConv c);
const char* cpu_conv_name(CpuConv c);

// B of the blocked layout (16 on AVX-512, 8 on AVX2): what oneDNN's JIT convolutions use for
// their activations on this CPU. 0 without oneDNN, when the reference convolutions are selected
// (cpu_conv()), or when oneDNN uses no channel-blocked layout here: no blocked chains then.
int cpu_conv_block();
// Exact copies between NCHW and the blocked layout ([n, c, h, w], c a multiple of the block;
// oneDNN's block on this CPU, also while the reference backend is selected). For tests and for
// passes that run the reference on blocked tensors (NCHW copies in, the result copied back).
void cpu_nchw_to_blocked(int n, int c, int h, int w, const float* src, float* dst);
void cpu_blocked_to_nchw(int n, int c, int h, int w, const float* src, float* dst);

// y = conv(x, w) + b. b may be nullptr (no bias: used by forward-mode tangents).
template <class T>
void conv2d_forward_cpu(const Conv2dDims& d, const T* x, const T* w, const T* b, T* y);

// dx = conv^T(dy, w); dx is overwritten.
template <class T>
void conv2d_backward_input_cpu(const Conv2dDims& d, const T* dy, const T* w, T* dx);

// dw += sum_b dy (*) x, db += sum over (b, ho, wo) of dy. db may be nullptr. Accumulates.
template <class T>
void conv2d_backward_weight_cpu(const Conv2dDims& d, const T* x, const T* dy, T* dw, T* db);

namespace detail {
// 1x1 stride-1 unpadded convs on NCHW tensors with at most this many channels on one side (the
// relational blocks' projections, the agent ResBlocks' 1x1 convs) on maps of fewer positions
// than kPointwiseDirectMaxPositions (48x48 frames: 12x12 and 6x6; at 84x84 the 21x21 maps give
// GEMMs wide enough) run as direct per-sample products (conv2d_pointwise_cpu.cpp) instead of
// im2col + GEMM; the forward and the weight gradient only up to kPointwiseDirectMaxOutChannels
// output channels (a GEMM wins for 16 -> 128). bench_conv_cpu's Pointwise/ cases measure both.
constexpr int kPointwiseDirectMaxChannels = 16;
constexpr int kPointwiseDirectMaxPositions = 256;
constexpr int kPointwiseDirectMaxOutChannels = 64;
// Whether conv2d_*_cpu take the direct path for d (backward_input: for that pass, else for the
// forward or the weight gradient). Tests and benchmarks move the channel limit (0: never) to
// compare both paths; negative restores kPointwiseDirectMaxChannels.
bool pointwise_direct(const Conv2dDims& d, bool backward_input);
void set_pointwise_direct_max_channels(int channels);
template <class T>
void pointwise_forward_cpu(const Conv2dDims& d, const T* x, const T* w, const T* b, T* y);
template <class T>
void pointwise_backward_input_cpu(const Conv2dDims& d, const T* dy, const T* w, T* dx);
template <class T>
void pointwise_backward_weight_cpu(const Conv2dDims& d, const T* x, const T* dy, T* dw, T* db);
}  // namespace detail

// CUDA versions: float, device pointers, the same contracts, queued on `stream`. Implicit GEMMs
// tiled in shared memory (no im2col buffer); `math` picks FP32 FMA or TF32 tensor cores.
void conv2d_forward_cuda(const Conv2dDims& d, const float* x, const float* w, const float* b,
                         float* y, CudaMath math = CudaMath::FP32, Stream stream = nullptr);
void conv2d_backward_input_cuda(const Conv2dDims& d, const float* dy, const float* w, float* dx,
                                CudaMath math = CudaMath::FP32, Stream stream = nullptr);
// Deterministic: splits of the batch * Ho * Wo reduction write partial [dW | db] sums to a
// per-stream workspace (cuda_context.h), added in split order by a second kernel; no atomics.
// The split count follows the device's multiprocessor count, so bits may differ between GPU
// models, never between runs on one.
void conv2d_backward_weight_cuda(const Conv2dDims& d, const float* x, const float* dy, float* dw,
                                 float* db, CudaMath math = CudaMath::FP32,
                                 Stream stream = nullptr);

}  // namespace relmimic::kernels
