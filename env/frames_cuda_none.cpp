// The device frame writer of a build without the CUDA backend: constructing one says so.
#ifndef RELMIMIC_WITH_CUDA
#include "env/frames_cuda.h"
#include "kernels/common.h"

namespace relmimic::env {

struct CudaFrameWriter::Impl {};

CudaFrameWriter::CudaFrameWriter(Renderer& renderer, int) {
  RM_FAIL("CudaFrameWriter: ", cuda_frames_unsupported(renderer.gl_info()));
}
CudaFrameWriter::~CudaFrameWriter() = default;
void CudaFrameWriter::render(int, mjData_*) {}
void CudaFrameWriter::push(int, int, int, uint8_t*, bool) {}
void CudaFrameWriter::copy(uint8_t*, const uint8_t*, size_t) {}
void CudaFrameWriter::synchronize() {}
const uint8_t* CudaFrameWriter::frame(int) const {
  return nullptr;
}
int CudaFrameWriter::cuda_device() const {
  return -1;
}
kernels::Stream CudaFrameWriter::stream() const {
  return nullptr;
}
int CudaFrameWriter::slots() const {
  return 0;
}

}  // namespace relmimic::env
#endif
