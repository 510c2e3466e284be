// Whether rendered frames can reach CUDA: decided on the host from the build and the GL stack, so
// that every build (and every CPU test) exercises it.
#include <string>

#include "env/frames_cuda.h"

namespace relmimic::env {

bool cuda_frames_built() {
#ifdef RELMIMIC_WITH_CUDA
  return true;
#else
  return false;
#endif
}

std::string cuda_frames_unsupported(const GlInfo& info) {
  if (!cuda_frames_built())
    return "device frames need the CUDA backend, but relmimic was built without CUDA "
           "(RELMIMIC_CUDA=OFF or no nvcc at configure time)";
  if (info.platform != "nvidia-device")
    return "device frames need CUDA-GL interop on the NVIDIA EGL device platform, but the "
           "renderer runs on EGL platform '" +
           info.platform + "' (GL " + info.vendor + " | " + info.renderer +
           "), whose contexts cannot be registered with CUDA; set RELMIMIC_EGL=nvidia "
           "(RenderConfig::egl) on a GPU machine, or use host frames";
  if (info.vendor.find("NVIDIA") == std::string::npos)
    return "device frames need an NVIDIA GL context, but the NVIDIA EGL device platform reports "
           "GL vendor '" +
           info.vendor + "' (renderer '" + info.renderer + "')";
  return "";
}

}  // namespace relmimic::env
