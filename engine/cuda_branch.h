// The CUDA branch of an op that dispatches on the device, in one form for the whole project:
//
//   if (dev.is_cpu()) return kernels::gae_cpu(...);
//   RM_CUDA("gae", kernels::gae_cuda(...));            // or RM_CUDA("sum", return ...);
//
// In a build with the CUDA backend RM_CUDA(what, call) is `call` (an expression or a return
// statement); without it `call` is not even compiled and the op fails naming `what`.
#pragma once

#include <string_view>

#include "kernels/common.h"

namespace relmimic {

[[noreturn]] inline void no_cuda_backend(std::string_view what) {
  RM_FAIL(what, " on a CUDA device: relmimic was built without the CUDA backend",
          " (configure with RELMIMIC_CUDA=ON)");
}

}  // namespace relmimic

#ifdef RELMIMIC_WITH_CUDA
#define RM_CUDA(what, call) call
#else
#define RM_CUDA(what, call) ::relmimic::no_cuda_backend(what)
#endif
