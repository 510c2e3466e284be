// Row gathers on the device (kernels/gather.h): one thread per word of the output.
#include <algorithm>
#include <cstdint>

#include "kernels/cuda_check.h"
#include "kernels/gather.h"

namespace relmimic::kernels {

namespace {
constexpr int kThreads = 256;

// words: words per row (V-sized); out word o is word o % words of row index[o / words].
template <class V>
__global__ void gather_kernel(long total, long words, const int32_t* __restrict__ index,
                              const V* __restrict__ src, V* __restrict__ dst) {
  for (long o = blockIdx.x * long(blockDim.x) + threadIdx.x; o < total;
       o += long(gridDim.x) * blockDim.x) {
    const long row = o / words;
    dst[o] = src[long(index[row]) * words + (o - row * words)];
  }
}

bool aligned(const void* p, size_t a) {
  return reinterpret_cast<uintptr_t>(p) % a == 0;
}

template <class V>
void launch(long rows, long row_bytes, const int32_t* index, const void* src, void* dst,
            Stream stream) {
  const long words = row_bytes / long(sizeof(V));
  const long total = rows * words;
  const unsigned blocks = unsigned(std::clamp((total + kThreads - 1) / kThreads, 1L, 65535L * 16));
  gather_kernel<V><<<blocks, kThreads, 0, stream>>>(total, words, index, static_cast<const V*>(src),
                                                    static_cast<V*>(dst));
  CUDA_CHECK_LAUNCH();
}
template <class T>
__global__ void interpolate_kernel(long total, long per, const T* __restrict__ eps,
                                   const uint8_t* __restrict__ a, const uint8_t* __restrict__ e,
                                   T* __restrict__ x_hat) {
  for (long o = blockIdx.x * long(blockDim.x) + threadIdx.x; o < total;
       o += long(gridDim.x) * blockDim.x) {
    const double w = double(eps[o / per]);
    x_hat[o] = T((w * double(a[o]) + (1 - w) * double(e[o])) / 255.0);
  }
}
}  // namespace

template <class T>
void interpolate_frames_cuda(int batch, long per, const T* eps, const uint8_t* a, const uint8_t* e,
                             T* x_hat, Stream stream) {
  RM_CHECK(batch >= 0 && per >= 0, "interpolate_frames_cuda: batch ", batch, " and per ", per,
           " must be >= 0");
  const long total = long(batch) * per;
  if (total == 0) return;
  RM_CHECK(eps && a && e && x_hat, "interpolate_frames_cuda: null eps, input or output");
  const unsigned blocks = unsigned(std::clamp((total + kThreads - 1) / kThreads, 1L, 65535L * 16));
  interpolate_kernel<T><<<blocks, kThreads, 0, stream>>>(total, per, eps, a, e, x_hat);
  CUDA_CHECK_LAUNCH();
}

template void interpolate_frames_cuda(int, long, const float*, const uint8_t*, const uint8_t*,
                                      float*, Stream);
template void interpolate_frames_cuda(int, long, const double*, const uint8_t*, const uint8_t*,
                                      double*, Stream);

void gather_rows_cuda(long rows, long row_bytes, const int32_t* index, const void* src, void* dst,
                      Stream stream) {
  RM_CHECK(rows >= 0 && row_bytes >= 0, "gather_rows_cuda: rows ", rows, " and row_bytes ",
           row_bytes, " must be >= 0");
  if (rows == 0 || row_bytes == 0) return;
  RM_CHECK(index && src && dst, "gather_rows_cuda: null index, src or dst");
  if (row_bytes % 16 == 0 && aligned(src, 16) && aligned(dst, 16))
    launch<uint4>(rows, row_bytes, index, src, dst, stream);
  else if (row_bytes % 4 == 0 && aligned(src, 4) && aligned(dst, 4))
    launch<uint32_t>(rows, row_bytes, index, src, dst, stream);
  else
    launch<uint8_t>(rows, row_bytes, index, src, dst, stream);
}

}  // namespace relmimic::kernels
