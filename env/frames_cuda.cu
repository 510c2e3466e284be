// CUDA-GL interop frames (env/frames_cuda.h). Per frame, on the writer's stream:
//   Renderer::draw -> cudaGraphicsMapResources (GL work issued before it completes first)
//   -> cudaMemcpy2DFromArrayAsync (RGBA8 texels [H, W, 4], GL rows: bottom-up) -> unmap
//   -> rgba_to_gray_cuda(flip_rows) into the slot, top-down like the host path's
//   rgb_to_gray_cpu(flip_rows = true) on mjr_readPixels' output.
#include <cuda_gl_interop.h>
#include <cuda_runtime.h>

#include <string>

#include "env/frames_cuda.h"
#include "kernels/common.h"
#include "kernels/cuda_check.h"
#include "kernels/image.h"

namespace relmimic::env {

namespace {
constexpr unsigned kGlRenderbuffer = 0x8D41;  // GL_RENDERBUFFER
constexpr unsigned kMaxGlDevices = 16;
}  // namespace

struct CudaFrameWriter::Impl {
  Renderer* renderer = nullptr;
  int h = 0, w = 0, slots = 0, device = -1;
  long hw = 0;
  cudaGraphicsResource_t resource = nullptr;
  cudaStream_t stream = nullptr;
  uint8_t* rgba = nullptr;  // [H, W, 4] the colour buffer as copied, rows bottom-up
  uint8_t* gray = nullptr;  // [slots, H, W] top-down
  uint8_t* ones = nullptr;  // [slots] all 1: stack_push_cuda's reset flags
  bool format_checked = false;

  // Every CUDA call below runs on the worker thread that owns the GL context; the runtime's
  // current device is per thread, so each entry point binds it again.
  void bind() const { CUDA_CHECK(cudaSetDevice(device)); }

  // The mapped colour buffer must be h x w RGBA, 8 bits per channel (what mjr_makeContext made).
  void check_format(cudaArray_t array) {
    cudaChannelFormatDesc desc{};
    cudaExtent extent{};
    unsigned flags = 0;
    CUDA_CHECK(cudaArrayGetInfo(&desc, &extent, &flags, array));
    RM_CHECK(desc.x == 8 && desc.y == 8 && desc.z == 8 && desc.w == 8 &&
                 desc.f == cudaChannelFormatKindUnsigned,
             "CudaFrameWriter: the GL colour buffer maps to a CUDA array of format (", desc.x, ",",
             desc.y, ",", desc.z, ",", desc.w, " bits, kind ", int(desc.f),
             "), expected unsigned RGBA8");
    RM_CHECK(long(extent.width) == w && long(extent.height) == h,
             "CudaFrameWriter: the GL colour buffer is ", extent.width, "x", extent.height,
             ", the renderer's frame is ", w, "x", h);
    format_checked = true;
  }

  // Copies the mapped colour buffer into rgba; unmaps even when a step fails.
  void copy_colour_buffer() {
    CUDA_CHECK(cudaGraphicsMapResources(1, &resource, stream));
    try {
      cudaArray_t array = nullptr;
      CUDA_CHECK(cudaGraphicsSubResourceGetMappedArray(&array, resource, 0, 0));
      if (!format_checked) check_format(array);
      const size_t row = size_t(w) * 4;
      CUDA_CHECK(cudaMemcpy2DFromArrayAsync(rgba, row, array, 0, 0, row, size_t(h),
                                            cudaMemcpyDeviceToDevice, stream));
    } catch (...) {
      cudaGraphicsUnmapResources(1, &resource, stream);  // the first error is the one reported
      throw;
    }
    CUDA_CHECK(cudaGraphicsUnmapResources(1, &resource, stream));
  }

  ~Impl() {
    // Best effort, no throwing: unregistering wants the GL context current.
    if (device >= 0) cudaSetDevice(device);
    if (stream) cudaStreamSynchronize(stream);
    if (resource) {
      try {
        renderer->make_current();
      } catch (...) {
      }
      cudaGraphicsUnregisterResource(resource);
    }
    cudaFree(rgba);
    cudaFree(gray);
    cudaFree(ones);
    if (stream) cudaStreamDestroy(stream);
  }
};

CudaFrameWriter::CudaFrameWriter(Renderer& renderer, int slots) : impl_(new Impl) {
  Impl& m = *impl_;
  const std::string why = cuda_frames_unsupported(renderer.gl_info());
  RM_CHECK(why.empty(), "CudaFrameWriter: ", why);
  RM_CHECK(slots >= 1, "CudaFrameWriter: slot count must be positive, got ", slots);
  m.renderer = &renderer;
  m.h = renderer.height();
  m.w = renderer.width();
  m.hw = long(m.h) * m.w;
  m.slots = slots;

  // The CUDA device that runs this GL context: interop works only there.
  renderer.make_current();
  unsigned count = 0;
  int devices[kMaxGlDevices] = {};
  CUDA_CHECK(cudaGLGetDevices(&count, devices, kMaxGlDevices, cudaGLDeviceListAll));
  RM_CHECK(count >= 1, "CudaFrameWriter: no CUDA device renders the current GL context (",
           renderer.gl_info().renderer, ")");
  m.device = devices[0];
  m.bind();
  CUDA_CHECK(cudaStreamCreateWithFlags(&m.stream, cudaStreamNonBlocking));
  CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&m.rgba), size_t(m.hw) * 4));
  CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&m.gray), size_t(m.hw) * size_t(slots)));
  CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&m.ones), size_t(slots)));
  CUDA_CHECK(cudaMemsetAsync(m.gray, 0, size_t(m.hw) * size_t(slots), m.stream));
  CUDA_CHECK(cudaMemsetAsync(m.ones, 1, size_t(slots), m.stream));
  CUDA_CHECK(cudaStreamSynchronize(m.stream));
  // Registered once; the renderbuffer lives as long as the renderer's MuJoCo context.
  CUDA_CHECK(cudaGraphicsGLRegisterImage(&m.resource, renderer.color_renderbuffer(),
                                         kGlRenderbuffer, cudaGraphicsRegisterFlagsReadOnly));
}

CudaFrameWriter::~CudaFrameWriter() = default;

void CudaFrameWriter::render(int slot, mjData_* data) {
  Impl& m = *impl_;
  RM_CHECK(slot >= 0 && slot < m.slots, "CudaFrameWriter::render: slot ", slot,
           " out of range [0, ", m.slots, ")");
  m.bind();
  m.renderer->draw(data);
  m.copy_colour_buffer();
  kernels::rgba_to_gray_cuda(1, m.h, m.w, m.rgba, m.gray + slot * m.hw, true, m.stream);
}

void CudaFrameWriter::push(int first, int count, int k, uint8_t* stacks, bool reset) {
  Impl& m = *impl_;
  RM_CHECK(first >= 0 && count >= 1 && first + count <= m.slots, "CudaFrameWriter::push: slots [",
           first, ", ", first + count, ") out of range [0, ", m.slots, ")");
  RM_CHECK(stacks, "CudaFrameWriter::push: null stacks");
  m.bind();
  kernels::stack_push_cuda(count, k, m.hw, m.gray + first * m.hw, stacks,
                           reset ? m.ones + first : nullptr, m.stream);
}

void CudaFrameWriter::copy(uint8_t* dst, const uint8_t* src, size_t bytes) {
  RM_CHECK(dst && src, "CudaFrameWriter::copy: null pointer");
  impl_->bind();
  CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, impl_->stream));
}

void CudaFrameWriter::synchronize() {
  impl_->bind();
  CUDA_CHECK(cudaStreamSynchronize(impl_->stream));
}

const uint8_t* CudaFrameWriter::frame(int slot) const {
  RM_CHECK(slot >= 0 && slot < impl_->slots, "CudaFrameWriter::frame: slot ", slot,
           " out of range [0, ", impl_->slots, ")");
  return impl_->gray + slot * impl_->hw;
}

int CudaFrameWriter::cuda_device() const {
  return impl_->device;
}
kernels::Stream CudaFrameWriter::stream() const {
  return impl_->stream;
}
int CudaFrameWriter::slots() const {
  return impl_->slots;
}

}  // namespace relmimic::env
