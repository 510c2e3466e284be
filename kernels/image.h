// Image primitives: uint8 frames to network inputs, RGB to gray, frame stacks.
#pragma once

#include <cstdint>

namespace relmimic::kernels {

// y = x * scale (standardize: scale = 1/255).
template <class T>
void standardize_cpu(long n, const uint8_t* x, T* y, T scale);

// gray = round(0.299 R + 0.587 G + 0.114 B). rgb is [H, W, 3] row-major; with flip_rows the
// first input row becomes the last output row (OpenGL's bottom-up rows to top-down).
void rgb_to_gray_cpu(int h, int w, const uint8_t* rgb, uint8_t* gray, bool flip_rows);

// Frame stack [k, H*W] oldest first: drop the oldest, append frame. With reset, every slot
// becomes frame (the first frame repeated at episode start).
void stack_push_cpu(int k, long frame_size, const uint8_t* frame, uint8_t* stack, bool reset);

}  // namespace relmimic::kernels
