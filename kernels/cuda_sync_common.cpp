// The RELMIMIC_CUDA_SYNC debug switch (kernels/cuda_types.h), in every build so that a CPU-only
// one refuses a bad value the same way.
#include <atomic>
#include <cstdlib>
#include <cstring>

#include "kernels/common.h"
#include "kernels/cuda_types.h"

namespace relmimic::kernels {

namespace {
// -1: not read yet; else 0 or 1.
std::atomic<int> g_sync{-1};
}  // namespace

bool parse_cuda_sync(const char* value) {
  if (value == nullptr || value[0] == '\0') return false;
  RM_CHECK(std::strcmp(value, "0") == 0 || std::strcmp(value, "1") == 0,
           "RELMIMIC_CUDA_SYNC must be 0 or 1, got '", value, "'");
  return value[0] == '1';
}

bool cuda_sync_launches() {
  int s = g_sync.load(std::memory_order_relaxed);
  if (s < 0) {
    s = parse_cuda_sync(std::getenv("RELMIMIC_CUDA_SYNC")) ? 1 : 0;
    g_sync.store(s, std::memory_order_relaxed);
  }
  return s == 1;
}

void set_cuda_sync_launches(bool on) {
  g_sync.store(on ? 1 : 0, std::memory_order_relaxed);
}

}  // namespace relmimic::kernels
