// Max pooling over (channel, H, W) of one sample: the window slides along channels too.
// x [B, C, H, W] -> y [B, Co, Ho, Wo]. Padding cells never win (they act as -inf).
// Ties: the first maximum in (c, h, w) scan order wins, so backward is deterministic.
#pragma once

#include <cstdint>

#include "kernels/cuda_types.h"

namespace relmimic::kernels {

struct Pool3dDims {
  int batch = 1, c = 1, h = 1, w = 1;
  int kc = 1, kh = 1, kw = 1;  // window
  int sc = 1, sh = 1, sw = 1;  // stride
  int pc = 0, ph = 0, pw = 0;  // padding
  int out_c() const { return (c + 2 * pc - kc) / sc + 1; }
  int out_h() const { return (h + 2 * ph - kh) / sh + 1; }
  int out_w() const { return (w + 2 * pw - kw) / sw + 1; }
  long in_size() const { return long(c) * h * w; }
  long out_size() const { return long(out_c()) * out_h() * out_w(); }
};

// Throws naming `who` unless the sizes, window, stride and padding make a valid pooling (every
// window holds at least one real cell). Both backends check with it.
void check_pool3d_dims(const Pool3dDims& d, const char* who);

// argmax[b, o] = flat index (c*H + h)*W + w of the winner inside sample b's input.
template <class T>
void pool3d_forward_cpu(const Pool3dDims& d, const T* x, T* y, int32_t* argmax);

// Which CPU version pool3d_forward_cpu runs: in float, on a CPU build with AVX-512, the agent's
// stem pool (spatial window 3 x 3, stride 2, padding 1, any channel window, planes up to 48 x 48)
// goes through separable passes over whole rows (pool3d_forward_stem_cpu); otherwise output rows
// narrower than 32 go through a table of window offsets that vectorises over the whole output
// plane, wider rows and feature-only pools through row passes. All give the same bits.
bool pool3d_cpu_uses_table(const Pool3dDims& d);
namespace detail {  // the versions, unchecked; for the tests and benchmarks
template <class T>
void pool3d_forward_rows_cpu(const Pool3dDims& d, const T* x, T* y, int32_t* argmax);
template <class T>
void pool3d_forward_table_cpu(const Pool3dDims& d, const T* x, T* y, int32_t* argmax);
// Runs the stem version and returns true where it applies (float, AVX-512, the shape above);
// returns false and touches nothing elsewhere.
template <class T>
bool pool3d_forward_stem_cpu(const Pool3dDims& d, const T* x, T* y, int32_t* argmax);
}  // namespace detail

// dx = scatter of dy to the winners; dx is overwritten (zero elsewhere).
template <class T>
void pool3d_backward_cpu(const Pool3dDims& d, const T* dy, const int32_t* argmax, T* dx);

// CUDA versions (device pointers, same contracts and tie-breaking, bit-identical results),
// queued on `stream`. Backward is a gather: each dx element sums the outputs that chose it.
template <class T>
void pool3d_forward_cuda(const Pool3dDims& d, const T* x, T* y, int32_t* argmax,
                         Stream stream = nullptr);
template <class T>
void pool3d_backward_cuda(const Pool3dDims& d, const T* dy, const int32_t* argmax, T* dx,
                          Stream stream = nullptr);

}  // namespace relmimic::kernels
