// Per-device state the CUDA kernels share: the cuBLAS handle, the multiprocessor count and a
// scratch workspace. Include from .cu files and CUDA-only sources.
#pragma once

#include <cublas_v2.h>

#include <cstddef>

#include "kernels/cuda_types.h"

namespace relmimic::kernels {

// The calling thread's cuBLAS handle for the current device, bound to `stream`. Created on first
// use (one per device and thread: cuBLAS handles must not be shared between threads that call
// concurrently), destroyed when the thread exits.
cublasHandle_t cublas_handle(Stream stream);

// Multiprocessors of the current device (cached per device).
int cuda_sm_count();

// Who a workspace serves. Each use has its own buffer: the reductions keep results in theirs
// between a kernel's write and a later fetch (the spectral norm's dot, the PPO statistics), and
// a conv's split-K partials in between must not land on them.
enum class WorkspaceUse { reduction, conv_split_k };

// At least `bytes` of device memory private to (current device, stream, use): kernels that need
// scratch take it from here, so steady-state calls allocate nothing. All users of one workspace
// run on the same stream, which orders them. Growing it synchronises the stream before the old
// buffer is freed. Valid until the next call with the same stream and use.
void* cuda_workspace(WorkspaceUse use, size_t bytes, Stream stream);

}  // namespace relmimic::kernels
