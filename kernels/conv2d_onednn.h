// oneDNN's JIT convolutions as the CPU fast path of conv2d_*_cpu<float> (built when CMake finds
// oneDNN: RELMIMIC_WITH_ONEDNN). Internal to kernels/conv2d_cpu.cpp, which picks per pass and
// shape (conv2d_cpu.cpp says where each wins; bench/results/cpu_conv_onednn.txt has the numbers).
#pragma once

#include "kernels/conv2d.h"

namespace relmimic::kernels::onednn {

// The same contracts as conv2d_forward_cpu, conv2d_backward_input_cpu (overwrites dx) and
// conv2d_backward_weight_cpu (accumulates into dw, db). Each returns false, having done
// nothing, when oneDNN has no primitive for the shape (the caller then runs the reference).
// Primitives are built once per thread, shape and pass (JIT on first use) and reused.
bool forward(const Conv2dDims& d, const float* x, const float* w, const float* b, float* y);
bool backward_input(const Conv2dDims& d, const float* dy, const float* w, float* dx);
bool backward_weight(const Conv2dDims& d, const float* x, const float* dy, float* dw, float* db);

}  // namespace relmimic::kernels::onednn
