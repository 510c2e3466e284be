// The device calls of a build without the CUDA backend.
#ifndef RELMIMIC_WITH_CUDA
#include "kernels/common.h"
#include "kernels/device.h"

namespace relmimic::kernels {

int cuda_device_count() {
  return 0;
}
const char* cuda_device_description(int) {
  return "relmimic was built without CUDA";
}
void* cuda_malloc(int, size_t) {
  RM_FAIL("CUDA memory requested, but relmimic was built without the CUDA backend");
}
void cuda_free(void*) {}
void cuda_memcpy(void*, const void*, size_t, CopyKind) {
  RM_FAIL("CUDA copy requested, but relmimic was built without the CUDA backend");
}
void cuda_memset_zero(void*, size_t) {
  RM_FAIL("CUDA memset requested, but relmimic was built without the CUDA backend");
}
void cuda_synchronize() {}
Stream cuda_stream_create(bool) {
  RM_FAIL("CUDA stream requested, but relmimic was built without the CUDA backend");
}
void cuda_stream_destroy(Stream) {}
void cuda_stream_synchronize(Stream) {}

}  // namespace relmimic::kernels
#endif
