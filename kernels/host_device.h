// RM_HD marks small functions compiled for both the host and the device (nvcc), so the CPU
// reference and the CUDA kernels share one definition; plain inline C++ elsewhere.
#pragma once

#if defined(__CUDACC__)
#define RM_HD __host__ __device__ __forceinline__
#else
#define RM_HD inline
#endif
