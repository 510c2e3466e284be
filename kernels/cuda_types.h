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

// Debug switch RELMIMIC_CUDA_SYNC=1: every kernel launch waits for the device and checks, so an
// asynchronous fault (an illegal address, a trap) is reported against the kernel that caused
// it instead of the next CUDA call. Slow; for debugging. Read once from the environment; a
// value other than 0 or 1 throws. set_cuda_sync_launches overrides it (tests, tools).
bool parse_cuda_sync(const char* value);
bool cuda_sync_launches();
void set_cuda_sync_launches(bool on);

}  // namespace relmimic::kernels
