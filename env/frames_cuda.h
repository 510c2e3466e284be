// Rendered frames straight into CUDA memory (CUDA-GL interop, no host round trip): the renderer's
// GL_RGBA8 colour buffer is registered with CUDA once, mapped per frame on a stream, copied into a
// device buffer and converted to gray (top-down rows) by kernels/image.h's kernels. Works only
// when the GL context lives on the NVIDIA EGL device: a Mesa context cannot be registered with
// CUDA. Plain C++17 (included from .cu files); without the CUDA backend constructing a writer
// throws, saying so.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "env/renderer.h"
#include "kernels/cuda_types.h"

namespace relmimic::env {

// Whether this build has the CUDA backend (and so the interop path).
bool cuda_frames_built();

// Why frames from a renderer with this GL stack cannot reach CUDA, or "" when they can: needs a
// CUDA build, the "nvidia-device" EGL platform and an NVIDIA GL vendor.
std::string cuda_frames_unsupported(const GlInfo& info);

// One worker's device frames: `slots` gray frames [slots, H, W] uint8 (top-down, like
// Renderer::render_gray) on the CUDA device that renders the GL context, and its own stream. Every
// call is made on the thread whose GL context the renderer owns; calls queue work on stream() and
// return without waiting, except synchronize().
class CudaFrameWriter {
 public:
  // Registers renderer.color_renderbuffer() with CUDA (read-only); `renderer` must outlive this.
  CudaFrameWriter(Renderer& renderer, int slots);
  ~CudaFrameWriter();  // on the renderer's thread, before the renderer is destroyed
  CudaFrameWriter(const CudaFrameWriter&) = delete;
  CudaFrameWriter& operator=(const CudaFrameWriter&) = delete;

  // Draws `data` and writes its gray frame to slot `slot` (map, copy, unmap, gray + row flip).
  void render(int slot, mjData_* data);
  // Pushes the frames of slots [first, first + count) onto stacks [count, k, H*W] (device memory,
  // env-major, oldest first, kernels::stack_push_cuda); reset repeats each frame k times.
  void push(int first, int count, int k, uint8_t* stacks, bool reset);
  // dst = src (device memory, `bytes`), queued on the stream.
  void copy(uint8_t* dst, const uint8_t* src, size_t bytes);
  void synchronize();  // waits for everything queued

  const uint8_t* frame(int slot) const;  // [H, W] device pointer
  int cuda_device() const;               // the CUDA device of the GL context
  kernels::Stream stream() const;
  int slots() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace relmimic::env
