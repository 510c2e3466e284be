#include <cstring>

#include "kernels/common.h"
#include "kernels/gather.h"

namespace relmimic::kernels {

void gather_rows_cpu(long rows, long row_bytes, const int32_t* index, const void* src, void* dst) {
  RM_CHECK(rows >= 0 && row_bytes >= 0, "gather_rows_cpu: rows ", rows, " and row_bytes ",
           row_bytes, " must be >= 0");
  if (rows == 0 || row_bytes == 0) return;
  RM_CHECK(index && src && dst, "gather_rows_cpu: null index, src or dst");
  const auto* s = static_cast<const uint8_t*>(src);
  auto* d = static_cast<uint8_t*>(dst);
  for (long i = 0; i < rows; ++i) {
    RM_CHECK(index[i] >= 0, "gather_rows_cpu: index[", i, "] = ", index[i], " is negative");
    std::memcpy(d + i * row_bytes, s + long(index[i]) * row_bytes, size_t(row_bytes));
  }
}

template <class T>
void interpolate_frames_cpu(int batch, long per, const T* eps, const uint8_t* a, const uint8_t* e,
                            T* x_hat) {
  RM_CHECK(batch >= 0 && per >= 0, "interpolate_frames_cpu: batch ", batch, " and per ", per,
           " must be >= 0");
  for (int b = 0; b < batch; ++b) {
    const double w = double(eps[b]);
    const long o = long(b) * per;
    for (long i = 0; i < per; ++i) x_hat[o + i] = T((w * a[o + i] + (1 - w) * e[o + i]) / 255.0);
  }
}

template void interpolate_frames_cpu(int, long, const float*, const uint8_t*, const uint8_t*,
                                     float*);
template void interpolate_frames_cpu(int, long, const double*, const uint8_t*, const uint8_t*,
                                     double*);

}  // namespace relmimic::kernels
