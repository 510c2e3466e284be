// The cuDNN baselines of a build without cuDNN: constructing one says so.
#ifndef RELMIMIC_WITH_CUDNN
#include "kernels/common.h"
#include "kernels/cudnn_baseline.h"

namespace relmimic::kernels {

bool cudnn_available() {
  return false;
}
std::string cudnn_description() {
#ifdef RELMIMIC_WITH_CUDA
  return "relmimic was built without cuDNN (cudnn.h or libcudnn not found at configure time)";
#else
  return "relmimic was built without CUDA";
#endif
}

struct CudnnConv2d::Impl {};
CudnnConv2d::CudnnConv2d(const Conv2dDims&, CudaMath) {
  RM_FAIL("CudnnConv2d: ", cudnn_description());
}
CudnnConv2d::~CudnnConv2d() = default;
void CudnnConv2d::forward(const float*, const float*, const float*, float*, Stream) const {}
void CudnnConv2d::backward_input(const float*, const float*, float*, Stream) const {}
void CudnnConv2d::backward_weight(const float*, const float*, float*, float*, Stream) const {}
std::string CudnnConv2d::algorithms() const {
  return {};
}

struct CudnnPool3d::Impl {};
CudnnPool3d::CudnnPool3d(const Pool3dDims&) {
  RM_FAIL("CudnnPool3d: ", cudnn_description());
}
CudnnPool3d::~CudnnPool3d() = default;
void CudnnPool3d::forward(const float*, float*, Stream) const {}
void CudnnPool3d::backward(const float*, const float*, const float*, float*, Stream) const {}

}  // namespace relmimic::kernels
#endif
