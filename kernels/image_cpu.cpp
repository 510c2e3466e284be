// CPU reference of the image primitives (kernels/image.h).
#include <algorithm>
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

void shift_windows_cpu(int n, int k, int h, int w, const int32_t* shifts, const uint8_t* x,
                       uint8_t* y) {
  RM_CHECK(n >= 0 && k > 0 && h > 0 && w > 0, "shift_windows: bad windows n=", n, " k=", k,
           " h=", h, " w=", w);
  RM_CHECK(n == 0 || (shifts && x && y), "shift_windows: null shifts, x or y");
  const long hw = long(h) * w;
  for (int b = 0; b < n; ++b) {
    const int dy = shifts[2 * b], dx = shifts[2 * b + 1];
    // Output columns [j0, j1) read inside the row; the ones left and right repeat its edges.
    const int j0 = std::clamp(-dx, 0, w), j1 = std::clamp(w - dx, j0, w);
    for (int f = 0; f < k; ++f) {
      const uint8_t* src = x + (long(b) * k + f) * hw;
      uint8_t* dst = y + (long(b) * k + f) * hw;
      for (int i = 0; i < h; ++i) {
        const uint8_t* row = src + long(std::clamp(i + dy, 0, h - 1)) * w;
        uint8_t* out = dst + long(i) * w;
        std::memset(out, row[0], size_t(j0));
        if (j1 > j0) std::memcpy(out + j0, row + j0 + dx, size_t(j1 - j0));
        std::memset(out + j1, row[w - 1], size_t(w - j1));
      }
    }
  }
}

}  // namespace relmimic::kernels
