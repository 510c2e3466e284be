// The weight gradient of a convolution followed by a max-pool, from the pool's output gradient.
//
// After a max-pool, the gradient reaching the convolution's output is zero everywhere but at the
// pool's winners: for the agent's stem (conv 5x5/2 -> MaxPool3D (2, 3, 3)/2) at most one cell
// in seven, about one in fourteen once the ReLU after the pool has masked its share. Scattering
// it into a dense tensor and running the convolution's backward weight over every cell spends
// ~90 % of that pass on zeros. This kernel walks the pool's outputs instead: each nonzero output
// gradient g, whose winner is the convolution's output cell (co, oh, ow), adds g times that
// cell's input patch to dW[co] and g to db[co].
//
// Same sums as kernels::pool3d_backward_cpu followed by kernels::conv2d_backward_weight_cpu,
// in another order (float results differ by rounding; double agrees to ~1e-15). Outputs whose
// gradient is exactly zero are skipped: the dense pass adds 0 * x there, which is 0 for any
// finite input.
#pragma once

#include <cstdint>

#include "kernels/conv2d.h"
#include "kernels/pool3d.h"

namespace relmimic::kernels {

// The widest kernel it takes (each patch row is read as one 8-wide vector).
constexpr int kPooledMaxKernelWidth = 8;

// d: the convolution (x [B, Cin, H, W]; NCHW on both sides); p: the pool on its output
// (p.batch, p.c, p.h, p.w = B, Cout, Ho, Wo); argmax [B, p.out_size()] from pool3d_forward;
// dpool [B, p.out_size()] the gradient at the pool's output. dw += ..., db += ... (db may be
// nullptr). Runs on the process's OpenMP threads, with a fixed summation order per thread count.
template <class T>
void conv2d_backward_weight_pooled_cpu(const Conv2dDims& d, const T* x, const Pool3dDims& p,
                                       const int32_t* argmax, const T* dpool, T* dw, T* db);

}  // namespace relmimic::kernels
