// The two words every CUDA kernel declaration uses, without including the CUDA headers, so the
// kernel headers stay plain C++ in builds without the backend.
#pragma once

// cudaStream_t is `struct CUstream_st*` in the CUDA runtime; nullptr is the legacy default stream.
struct CUstream_st;

namespace relmimic::kernels {

using Stream = CUstream_st*;

// Arithmetic of the matrix products inside conv and linear. FP32: plain float FMA (results within
// ~1e-6 of a double reference). TF32: the tensor cores round both operands to 10 mantissa bits
// and accumulate in float (~1e-3 relative), several times faster. Chosen by the caller, never
// switched on silently.
enum class CudaMath { FP32, TF32 };

inline const char* cuda_math_name(CudaMath m) {
  return m == CudaMath::TF32 ? "tf32" : "fp32";
}

}  // namespace relmimic::kernels
