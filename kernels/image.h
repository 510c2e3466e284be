// Image primitives: uint8 frames to network inputs, RGB to gray, frame stacks.
#pragma once

#include <cstdint>

#include "kernels/cuda_types.h"

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

// Random-shift augmentation of uint8 windows [n, k, h, w] (each window's k frames move together):
// window b moves by (dy, dx) = (shifts[2b], shifts[2b + 1]) pixels with its edge pixels
// replicated, y[b, f, i, j] = x[b, f, clamp(i + dy, 0, h - 1), clamp(j + dx, 0, w - 1)] (DrQ's
// replicate-pad-and-crop). shifts [n, 2] on the host; x and y must not overlap.
void shift_windows_cpu(int n, int k, int h, int w, const int32_t* shifts, const uint8_t* x,
                       uint8_t* y);

// Device versions (queued on `stream`), batched over the frames of an env pool.
// standardize_cpu on the device.
template <class T>
void standardize_cuda(long n, const uint8_t* x, T* y, T scale, Stream stream = nullptr);

// rgb_to_gray_cpu for each of `frames` frames: rgb [F, H, W, 3] -> gray [F, H, W].
void rgb_to_gray_cuda(int frames, int h, int w, const uint8_t* rgb, uint8_t* gray, bool flip_rows,
                      Stream stream = nullptr);
// The same on RGBA input [F, H, W, 4] (alpha ignored): a GL_RGBA8 colour buffer as CUDA-GL interop
// copies it. Equals rgb_to_gray_cpu on the RGB channels, bit for bit.
void rgba_to_gray_cuda(int frames, int h, int w, const uint8_t* rgba, uint8_t* gray, bool flip_rows,
                       Stream stream = nullptr);

// stack_push_cpu for each of `envs` envs: stacks [E, k, frame_size], frames [E, frame_size];
// reset [E] (device memory, nonzero = reset that env's stack) or null for no resets.
void stack_push_cuda(int envs, int k, long frame_size, const uint8_t* frames, uint8_t* stacks,
                     const uint8_t* reset, Stream stream = nullptr);

// shift_windows_cpu with shifts, x and y in device memory.
void shift_windows_cuda(int n, int k, int h, int w, const int32_t* shifts, const uint8_t* x,
                        uint8_t* y, Stream stream = nullptr);

}  // namespace relmimic::kernels
