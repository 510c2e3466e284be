// The CUDA runtime as the engine sees it: device discovery, memory and copies. Declared for every
// build; without the CUDA backend cuda_device_count() is 0 and the memory calls throw.
#pragma once

#include <cstddef>

#include "kernels/cuda_types.h"

namespace relmimic::kernels {

// Number of usable CUDA devices; 0 without the backend, a driver or a device (never throws).
int cuda_device_count();
// "NVIDIA H100 80GB HBM3, sm_90, driver 13.0" or why there is none.
const char* cuda_device_description(int device);

void* cuda_malloc(int device, size_t bytes);  // zero-initialised
void cuda_free(void* p);
enum class CopyKind { HostToDevice, DeviceToHost, DeviceToDevice };
void cuda_memcpy(void* dst, const void* src, size_t bytes, CopyKind kind);
void cuda_memset_zero(void* p, size_t bytes);
void cuda_synchronize();

// A stream of its own on the current device: non_blocking (cudaStreamNonBlocking) does not wait
// for, and is not waited for by, the legacy default stream (nullptr) that the engine uses.
Stream cuda_stream_create(bool non_blocking);
void cuda_stream_destroy(Stream s);
void cuda_stream_synchronize(Stream s);

}  // namespace relmimic::kernels
