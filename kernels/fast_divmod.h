// Division by a run-time constant as a multiply-high and a shift (Granlund & Montgomery): the
// CUDA conv kernels decode flat GEMM indices into (sample, channel, row, column) per element,
// and a hardware-less integer division there costs ~20 instructions, this one 3.
// Plain C++ as well, so the index arithmetic is tested on machines without a GPU.
#pragma once

#include <cstdint>

#include "kernels/host_device.h"

namespace relmimic::kernels {

// Exact for every dividend in [0, 2^31) and divisor in [1, 2^31).
struct FastDivmod {
  int divisor = 1;
  uint32_t mul = 0, shift = 0;

  FastDivmod() = default;
  RM_HD explicit FastDivmod(int d) : divisor(d) {
    if (d <= 1) return;  // d == 1 is the identity; d < 1 is rejected by the launch code
    // l = ceil(log2 d); m = ceil(2^(31 + l) / d) fits in 32 bits; q = mulhi(n, m) >> (l - 1).
    uint32_t l = 0;
    while ((uint64_t(1) << l) < uint64_t(d)) ++l;
    const uint64_t p = uint64_t(1) << (31 + l);
    mul = uint32_t((p + uint64_t(d) - 1) / uint64_t(d));
    shift = l - 1;
  }

  RM_HD int div(int n) const {
    if (divisor == 1) return n;
#if defined(__CUDA_ARCH__)
    return int(__umulhi(uint32_t(n), mul) >> shift);
#else
    return int(uint32_t((uint64_t(uint32_t(n)) * mul) >> 32) >> shift);
#endif
  }
  // q = n / divisor, r = n % divisor.
  RM_HD void divmod(int n, int& q, int& r) const {
    q = div(n);
    r = n - q * divisor;
  }
};

}  // namespace relmimic::kernels
