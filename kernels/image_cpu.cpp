// CPU reference of the image primitives (kernels/image.h).
#include <cstring>

#include "kernels/common.h"
#include "kernels/image.h"

namespace relmimic::kernels {

template <class T>
void standardize_cpu(long n, const uint8_t* x, T* y, T scale) {
  RM_CHECK(n >= 0, "standardize: negative element count ", n);
  for (long i = 0; i < n; ++i) y[i] = T(x[i]) * scale;
}
template void standardize_cpu<float>(long, const uint8_t*, float*, float);
template void standardize_cpu<double>(long, const uint8_t*, double*, double);

void rgb_to_gray_cpu(int h, int w, const uint8_t* rgb, uint8_t* gray, bool flip_rows) {
  RM_CHECK(h > 0 && w > 0, "rgb_to_gray: bad image size ", h, "x", w);
  // Integer weights in thousandths: (299 R + 587 G + 114 B + 500) / 1000 rounds half up exactly,
  // with no float rounding differences between machines.
  for (int r = 0; r < h; ++r) {
    const uint8_t* src = rgb + long(r) * w * 3;
    uint8_t* dst = gray + long(flip_rows ? h - 1 - r : r) * w;
    for (int c = 0; c < w; ++c) {
      unsigned y = 299u * src[3 * c] + 587u * src[3 * c + 1] + 114u * src[3 * c + 2] + 500u;
      dst[c] = uint8_t(y / 1000u);
    }
  }
}

void stack_push_cpu(int k, long frame_size, const uint8_t* frame, uint8_t* stack, bool reset) {
  RM_CHECK(k > 0 && frame_size > 0, "stack_push: bad stack k=", k, " frame_size=", frame_size);
  if (reset) {
    for (int i = 0; i < k; ++i) std::memcpy(stack + i * frame_size, frame, size_t(frame_size));
    return;
  }
  // [k, HW] oldest first: slots 1..k-1 move to 0..k-2, the new frame goes last.
  std::memmove(stack, stack + frame_size, size_t(k - 1) * size_t(frame_size));
  std::memcpy(stack + long(k - 1) * frame_size, frame, size_t(frame_size));
}

}  // namespace relmimic::kernels
