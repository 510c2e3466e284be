// oneDNN's JIT convolutions as the CPU fast path of conv2d_*_cpu<float> (built when CMake finds
// oneDNN: RELMIMIC_WITH_ONEDNN). Internal to kernels/conv2d_cpu.cpp, which picks per pass and
// shape (conv2d_cpu.cpp says where each wins; bench/results/cpu_conv_onednn.txt has the numbers).
#pragma once

#include "kernels/conv2d.h"

namespace relmimic::kernels::onednn {

// The same contracts as conv2d_forward_cpu, conv2d_backward_input_cpu (overwrites dx) and
// conv2d_backward_weight_cpu (accumulates into dw, db). Each returns false, having done
// nothing, when oneDNN has no primitive for the shape (the caller then runs the reference).
// Primitives are built once per thread, shape, layouts and pass (JIT on first use) and reused.
// d.blocked_in / d.blocked_out: those tensors are in the layout of activation_block().
bool forward(const Conv2dDims& d, const float* x, const float* w, const float* b, float* y);
bool backward_input(const Conv2dDims& d, const float* dy, const float* w, float* dx);
bool backward_weight(const Conv2dDims& d, const float* x, const float* dy, float* dw, float* db);

// Copies an [n, c, h, w] activation between NCHW and the blocked layout of activation_block()
// (to_blocked: NCHW -> blocked) with oneDNN's reorder, built once per thread and shape.
void reorder_activation(int n, int c, int h, int w, const float* src, float* dst, bool to_blocked);

// The channel block of oneDNN's activation layout for convolutions on this CPU (nChw16c: 16,
// nChw8c: 8), found once by asking oneDNN which layout it picks for a typical convolution; 0
// when it picks another one.
int activation_block();

}  // namespace relmimic::kernels::onednn
