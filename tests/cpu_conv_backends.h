// The CPU backends of the float convolutions that a test should run on: the reference, and
// oneDNN in builds with it (kernels/conv2d.h), and a guard that restores the process's choice.
#pragma once

#include <vector>

#include "kernels/conv2d.h"

namespace relmimic::testing {

inline std::vector<kernels::CpuConv> cpu_conv_backends() {
  std::vector<kernels::CpuConv> v{kernels::CpuConv::Reference};
  if (kernels::cpu_conv_onednn_built()) v.push_back(kernels::CpuConv::OneDnn);
  return v;
}

// Restores the process's CPU conv backend when the scope ends.
struct CpuConvScope {
  kernels::CpuConv saved = kernels::cpu_conv();
  CpuConvScope() = default;
  CpuConvScope(const CpuConvScope&) = delete;
  CpuConvScope& operator=(const CpuConvScope&) = delete;
  ~CpuConvScope() { kernels::set_cpu_conv(saved); }
};

}  // namespace relmimic::testing
