// Vendor baselines: conv2d and MaxPool3D through cuDNN (linear's is gemm_cuda, plain cuBLAS),
// for the benchmarks and as a second opinion in the parity tests. Used only where a caller
// constructs them; nothing falls back to them. Without cuDNN in the build, cudnn_available() is
// false and constructing one throws.
#pragma once

#include <memory>
#include <string>

#include "kernels/conv2d.h"
#include "kernels/cuda_types.h"
#include "kernels/pool3d.h"

namespace relmimic::kernels {

bool cudnn_available();
// "cuDNN 9.19.0" or why there is none.
std::string cudnn_description();

// The three conv passes with the contracts of conv2d_*_cuda (float, NCHW, backward_weight
// accumulates). Construction runs cuDNN's Find for each pass (every candidate algorithm once,
// so keep it out of timed regions) and keeps the fastest one that is deterministic and allowed
// by `math` (FP32: FMA kernels only; TF32: tensor cores allowed), with its workspace.
class CudnnConv2d {
 public:
  CudnnConv2d(const Conv2dDims& d, CudaMath math);
  ~CudnnConv2d();
  CudnnConv2d(const CudnnConv2d&) = delete;
  CudnnConv2d& operator=(const CudnnConv2d&) = delete;

  void forward(const float* x, const float* w, const float* b, float* y,
               Stream stream = nullptr) const;
  void backward_input(const float* dy, const float* w, float* dx, Stream stream = nullptr) const;
  void backward_weight(const float* x, const float* dy, float* dw, float* db,
                       Stream stream = nullptr) const;
  // The chosen algorithms, e.g. "fwd 1 (tf32), data 1 (fma), filter 1 (fma)".
  std::string algorithms() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// MaxPool3D as cuDNN's 3-D max pooling (deterministic mode) of the [B, 1, C, H, W] view, window
// (kc, kh, kw). Padding acts as -inf there as in pool3d_*; ties may resolve differently.
class CudnnPool3d {
 public:
  explicit CudnnPool3d(const Pool3dDims& d);
  ~CudnnPool3d();
  CudnnPool3d(const CudnnPool3d&) = delete;
  CudnnPool3d& operator=(const CudnnPool3d&) = delete;

  void forward(const float* x, float* y, Stream stream = nullptr) const;
  // dx overwritten; needs the forward's x and y.
  void backward(const float* x, const float* y, const float* dy, float* dx,
                Stream stream = nullptr) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace relmimic::kernels
