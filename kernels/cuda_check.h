// Error macros for the CUDA libraries: each throws relmimic::Error naming the call, the status
// and the place. Include from .cu files and CUDA-only sources.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "kernels/common.h"
#include "kernels/cuda_types.h"

#define CUDA_CHECK(call)                                                       \
  do {                                                                         \
    cudaError_t cuda_status_ = (call);                                         \
    if (cuda_status_ != cudaSuccess)                                           \
      ::relmimic::detail::fail(__FILE__, __LINE__, #call, "CUDA call ", #call, \
                               " failed: ", cudaGetErrorString(cuda_status_)); \
  } while (0)

#define CUBLAS_CHECK(call)                                                          \
  do {                                                                              \
    cublasStatus_t cublas_status_ = (call);                                         \
    if (cublas_status_ != CUBLAS_STATUS_SUCCESS)                                    \
      ::relmimic::detail::fail(__FILE__, __LINE__, #call, "cuBLAS call ", #call,    \
                               " failed: ", cublasGetStatusString(cublas_status_)); \
  } while (0)

// After a kernel launch: launch-configuration errors surface here, not at the next call; with
// RELMIMIC_CUDA_SYNC=1 (kernels/cuda_types.h) the kernel's own faults as well.
#define CUDA_CHECK_LAUNCH()                                                                   \
  do {                                                                                        \
    CUDA_CHECK(cudaGetLastError());                                                           \
    if (::relmimic::kernels::cuda_sync_launches()) {                                          \
      cudaError_t cuda_sync_status_ = cudaDeviceSynchronize();                                \
      if (cuda_sync_status_ != cudaSuccess)                                                   \
        ::relmimic::detail::fail(__FILE__, __LINE__, "kernel launch",                         \
                                 "CUDA kernel launched here failed (RELMIMIC_CUDA_SYNC=1): ", \
                                 cudaGetErrorString(cuda_sync_status_));                      \
    }                                                                                         \
  } while (0)
