// Image primitives on the device (kernels/image.h), batched over the env pool's frames. All three
// are memory-bound byte shuffles: wide (16-byte) accesses where the layout allows them.
#include <algorithm>
#include <cstdint>

#include "kernels/cuda_check.h"
#include "kernels/image.h"

namespace relmimic::kernels {

namespace {
constexpr int kThreads = 256;

unsigned blocks_for(long n) {
  return unsigned(std::clamp((n + kThreads - 1) / kThreads, 1L, 65535L * 16));
}

bool aligned(const void* p, size_t a) {
  return reinterpret_cast<uintptr_t>(p) % a == 0;
}

template <class T>
__global__ void standardize_kernel(long n, const uint8_t* __restrict__ x, T* __restrict__ y,
                                   T scale) {
  for (long i = blockIdx.x * long(blockDim.x) + threadIdx.x; i < n;
       i += long(gridDim.x) * blockDim.x)
    y[i] = T(x[i]) * scale;
}

// Four pixels per thread: one 4-byte load, one 16-byte store.
__global__ void standardize4_kernel(long n4, const uchar4* __restrict__ x, float4* __restrict__ y,
                                    float scale) {
  for (long i = blockIdx.x * long(blockDim.x) + threadIdx.x; i < n4;
       i += long(gridDim.x) * blockDim.x) {
    const uchar4 v = x[i];
    y[i] =
        make_float4(float(v.x) * scale, float(v.y) * scale, float(v.z) * scale, float(v.w) * scale);
  }
}

// One output pixel per thread; integer weights as in rgb_to_gray_cpu (bit-identical). C = 3
// (RGB) or 4 (RGBA, alpha ignored) bytes per input pixel.
template <int C>
__global__ void rgb_to_gray_kernel(long total, int h, int w, const uint8_t* __restrict__ rgb,
                                   uint8_t* __restrict__ gray, bool flip_rows) {
  const long hw = long(h) * w;
  for (long o = blockIdx.x * long(blockDim.x) + threadIdx.x; o < total;
       o += long(gridDim.x) * blockDim.x) {
    const long f = o / hw;
    const int r = int((o % hw) / w), c = int(o % w);
    const int src_row = flip_rows ? h - 1 - r : r;  // output row r comes from input row src_row
    const uint8_t* p = rgb + (f * hw + long(src_row) * w + c) * C;
    const unsigned y = 299u * p[0] + 587u * p[1] + 114u * p[2] + 500u;
    gray[o] = uint8_t(y / 1000u);
  }
}

// Thread per (env, column of V-sized words): it owns that column in all k slots, so the shift
// needs no synchronisation.
template <class V>
__global__ void stack_push_kernel(int envs, int k, long words, const V* __restrict__ frames,
                                  V* __restrict__ stacks, const uint8_t* __restrict__ reset) {
  const long total = long(envs) * words;
  for (long t = blockIdx.x * long(blockDim.x) + threadIdx.x; t < total;
       t += long(gridDim.x) * blockDim.x) {
    const long e = t / words, p = t % words;
    const V f = frames[e * words + p];
    V* s = stacks + e * k * words + p;
    if (reset && reset[e]) {
      for (int i = 0; i < k; ++i) s[long(i) * words] = f;
    } else {
      for (int i = 0; i + 1 < k; ++i) s[long(i) * words] = s[long(i + 1) * words];
      s[long(k - 1) * words] = f;
    }
  }
}
}  // namespace

template <class T>
void standardize_cuda(long n, const uint8_t* x, T* y, T scale, Stream stream) {
  RM_CHECK(n >= 0, "standardize_cuda: negative element count ", n);
  RM_CHECK(n == 0 || (x && y), "standardize_cuda: null input or output");
  if (n == 0) return;
  if constexpr (sizeof(T) == sizeof(float)) {
    if (n % 4 == 0 && aligned(x, 4) && aligned(y, 16)) {
      standardize4_kernel<<<blocks_for(n / 4), kThreads, 0, stream>>>(
          n / 4, reinterpret_cast<const uchar4*>(x), reinterpret_cast<float4*>(y), scale);
      CUDA_CHECK_LAUNCH();
      return;
    }
  }
  standardize_kernel<T><<<blocks_for(n), kThreads, 0, stream>>>(n, x, y, scale);
  CUDA_CHECK_LAUNCH();
}
template void standardize_cuda<float>(long, const uint8_t*, float*, float, Stream);
template void standardize_cuda<double>(long, const uint8_t*, double*, double, Stream);

void rgb_to_gray_cuda(int frames, int h, int w, const uint8_t* rgb, uint8_t* gray, bool flip_rows,
                      Stream stream) {
  RM_CHECK(frames > 0, "rgb_to_gray_cuda: frame count must be positive, got ", frames);
  RM_CHECK(h > 0 && w > 0, "rgb_to_gray_cuda: bad image size ", h, "x", w);
  RM_CHECK(rgb && gray, "rgb_to_gray_cuda: null input or output");
  const long total = long(frames) * h * w;
  rgb_to_gray_kernel<3>
      <<<blocks_for(total), kThreads, 0, stream>>>(total, h, w, rgb, gray, flip_rows);
  CUDA_CHECK_LAUNCH();
}

void rgba_to_gray_cuda(int frames, int h, int w, const uint8_t* rgba, uint8_t* gray, bool flip_rows,
                       Stream stream) {
  RM_CHECK(frames > 0, "rgba_to_gray_cuda: frame count must be positive, got ", frames);
  RM_CHECK(h > 0 && w > 0, "rgba_to_gray_cuda: bad image size ", h, "x", w);
  RM_CHECK(rgba && gray, "rgba_to_gray_cuda: null input or output");
  const long total = long(frames) * h * w;
  rgb_to_gray_kernel<4>
      <<<blocks_for(total), kThreads, 0, stream>>>(total, h, w, rgba, gray, flip_rows);
  CUDA_CHECK_LAUNCH();
}

void stack_push_cuda(int envs, int k, long frame_size, const uint8_t* frames, uint8_t* stacks,
                     const uint8_t* reset, Stream stream) {
  RM_CHECK(envs > 0, "stack_push_cuda: env count must be positive, got ", envs);
  RM_CHECK(k > 0 && frame_size > 0, "stack_push_cuda: bad stack k=", k, " frame_size=", frame_size);
  RM_CHECK(frames && stacks, "stack_push_cuda: null frames or stacks");
  // 84 x 84 frames are 441 16-byte words: every slot and env then starts 16-byte aligned.
  if (frame_size % 16 == 0 && aligned(frames, 16) && aligned(stacks, 16)) {
    const long words = frame_size / 16;
    stack_push_kernel<uint4><<<blocks_for(envs * words), kThreads, 0, stream>>>(
        envs, k, words, reinterpret_cast<const uint4*>(frames), reinterpret_cast<uint4*>(stacks),
        reset);
  } else {
    stack_push_kernel<uint8_t><<<blocks_for(envs * frame_size), kThreads, 0, stream>>>(
        envs, k, frame_size, frames, stacks, reset);
  }
  CUDA_CHECK_LAUNCH();
}

namespace {
// One thread per output pixel of every frame of every window.
__global__ void shift_windows_kernel(int n, int k, int h, int w, const int32_t* __restrict__ shifts,
                                     const uint8_t* __restrict__ x, uint8_t* __restrict__ y) {
  const long hw = long(h) * w, total = long(n) * k * hw;
  for (long idx = blockIdx.x * long(blockDim.x) + threadIdx.x; idx < total;
       idx += long(gridDim.x) * blockDim.x) {
    const long frame = idx / hw, p = idx - frame * hw;
    const int b = int(frame / k), i = int(p / w), j = int(p - long(i) * w);
    const int si = min(max(i + shifts[2 * b], 0), h - 1);
    const int sj = min(max(j + shifts[2 * b + 1], 0), w - 1);
    y[idx] = x[frame * hw + long(si) * w + sj];
  }
}
}  // namespace

void shift_windows_cuda(int n, int k, int h, int w, const int32_t* shifts, const uint8_t* x,
                        uint8_t* y, Stream stream) {
  RM_CHECK(n >= 0 && k > 0 && h > 0 && w > 0, "shift_windows_cuda: bad windows n=", n, " k=", k,
           " h=", h, " w=", w);
  if (n == 0) return;
  RM_CHECK(shifts && x && y, "shift_windows_cuda: null shifts, x or y");
  shift_windows_kernel<<<blocks_for(long(n) * k * h * w), kThreads, 0, stream>>>(n, k, h, w, shifts,
                                                                                 x, y);
  CUDA_CHECK_LAUNCH();
}

}  // namespace relmimic::kernels
