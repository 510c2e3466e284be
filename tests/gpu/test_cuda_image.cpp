// Device image primitives (kernels/image.h), batched over env-pool frames, against the CPU
// reference applied frame by frame. All three are exact: the outputs must match bit for bit.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <tuple>
#include <vector>

#include "engine/rng.h"
#include "kernels/common.h"
#include "kernels/image.h"
#include "tests/gpu/close_check.h"
#include "tests/gpu/cuda_test_util.h"

namespace relmimic {
namespace {

using testing::DeviceBuffer;

#ifdef RELMIMIC_WITH_CUDA

std::vector<uint8_t> random_bytes(long n, Rng& rng) {
  std::vector<uint8_t> v(static_cast<size_t>(n));
  for (auto& b : v) b = uint8_t(rng.uniform(0, 256));
  return v;
}

template <class T>
void check_standardize(long n, long offset) {
  SCOPED_TRACE("n=" + std::to_string(n) + " offset=" + std::to_string(offset));
  Rng rng(uint64_t(n + offset));
  const auto x = random_bytes(n + offset, rng);
  std::vector<T> y(static_cast<size_t>(n));
  kernels::standardize_cpu<T>(n, x.data() + offset, y.data(), T(1.0 / 255));
  DeviceBuffer<uint8_t> dx(x);
  DeviceBuffer<T> dy(n + offset);
  dy.poison();
  kernels::standardize_cuda<T>(n, dx.get() + offset, dy.get() + offset, T(1.0 / 255));
  const std::vector<T> got = dy.download();
  EXPECT_EQ(std::vector<T>(got.begin() + offset, got.end()), y);
}

TEST(CudaImage, StandardizeMatchesCpu) {
  RM_REQUIRE_GPU();
  // A policy minibatch (one sample under compute-sanitizer): the 4-wide path.
  check_standardize<float>((testing::quick_mode() ? 1L : 128L) * 4 * 84 * 84, 0);
  check_standardize<float>(1001, 3);  // odd size, unaligned: the scalar path
  check_standardize<double>(4 * 84 * 84, 0);
}

TEST(CudaImage, ShiftWindowsMatchesCpu) {
  RM_REQUIRE_GPU();
  for (auto [n, k, size, pad] : {std::tuple{64, 4, 84, 4}, std::tuple{3, 2, 5, 7}}) {
    SCOPED_TRACE(std::to_string(n) + " windows of " + std::to_string(size));
    Rng rng(uint64_t(n * size + pad));
    const auto x = random_bytes(long(n) * k * size * size, rng);
    std::vector<int32_t> shifts(size_t(2 * n));
    for (auto& s : shifts) s = int32_t(rng.below(uint64_t(2 * pad + 1))) - pad;
    std::vector<uint8_t> want(x.size());
    kernels::shift_windows_cpu(n, k, size, size, shifts.data(), x.data(), want.data());
    DeviceBuffer<uint8_t> dx(x);
    DeviceBuffer<int32_t> ds(shifts);
    DeviceBuffer<uint8_t> dy(long(x.size()));
    dy.poison();
    kernels::shift_windows_cuda(n, k, size, size, ds.get(), dx.get(), dy.get());
    EXPECT_EQ(dy.download(), want);
  }
}

TEST(CudaImage, RgbToGrayMatchesCpu) {
  RM_REQUIRE_GPU();
  for (auto [frames, h, w] : {std::tuple{16, 84, 84}, std::tuple{3, 5, 7}})
    for (bool flip : {false, true}) {
      SCOPED_TRACE(std::to_string(h) + "x" + std::to_string(w) + (flip ? " flipped" : ""));
      Rng rng(uint64_t(frames * h * w + flip));
      const long hw = long(h) * w;
      const auto rgb = random_bytes(frames * hw * 3, rng);
      std::vector<uint8_t> gray(static_cast<size_t>(frames * hw));
      for (int f = 0; f < frames; ++f)
        kernels::rgb_to_gray_cpu(h, w, rgb.data() + f * hw * 3, gray.data() + f * hw, flip);
      DeviceBuffer<uint8_t> drgb(rgb), dgray(frames * hw);
      for (uint8_t poison : {0x00, 0xFF}) {  // an unwritten pixel differs from one of the two
        dgray.upload(std::vector<uint8_t>(gray.size(), poison));
        kernels::rgb_to_gray_cuda(frames, h, w, drgb.get(), dgray.get(), flip);
        EXPECT_EQ(dgray.download(), gray);
      }
    }
}

// Pushes several frames with a mix of resets into E stacks on both sides.
void check_stack_push(int envs, int k, long frame_size) {
  SCOPED_TRACE("envs=" + std::to_string(envs) + " k=" + std::to_string(k) +
               " frame=" + std::to_string(frame_size));
  Rng rng(uint64_t(envs * k + frame_size));
  auto stacks = random_bytes(envs * k * frame_size, rng);
  DeviceBuffer<uint8_t> dstacks(stacks), dframes(envs * frame_size), dreset(envs);
  for (int step = 0; step < 6; ++step) {
    const auto frames = random_bytes(envs * frame_size, rng);
    // Step 0 resets every stack; odd steps pass a mixed mask; other steps pass none (null).
    const bool mask = step == 0 || step % 2 == 1;
    std::vector<uint8_t> reset(static_cast<size_t>(envs), 0);
    for (int e = 0; e < envs && mask; ++e) reset[size_t(e)] = step == 0 || rng.uniform(0, 1) < 0.3;
    for (int e = 0; e < envs; ++e)
      kernels::stack_push_cpu(k, frame_size, frames.data() + e * frame_size,
                              stacks.data() + e * k * frame_size, reset[size_t(e)] != 0);
    dframes.upload(frames);
    dreset.upload(reset);
    kernels::stack_push_cuda(envs, k, frame_size, dframes.get(), dstacks.get(),
                             mask ? dreset.get() : nullptr);
    EXPECT_EQ(dstacks.download(), stacks) << "step " << step;
  }
}

TEST(CudaImage, StackPushMatchesCpu) {
  RM_REQUIRE_GPU();
  check_stack_push(8, 4, 84 * 84);  // 16-byte words
  check_stack_push(3, 8, 84 * 84);
  check_stack_push(5, 4, 37);  // byte path
  check_stack_push(2, 1, 16);  // k = 1: the push replaces the only slot
}

#endif  // RELMIMIC_WITH_CUDA

#ifdef RELMIMIC_WITH_CUDA
TEST(CudaImage, RejectsBadArguments) {
  uint8_t b = 0;
  EXPECT_THROW(kernels::rgb_to_gray_cuda(0, 84, 84, &b, &b, true), Error);
  EXPECT_THROW(kernels::stack_push_cuda(4, 0, 16, &b, &b, nullptr), Error);
  EXPECT_THROW(kernels::standardize_cuda<float>(-1, &b, nullptr, 1.f), Error);
}
#else
TEST(CudaImage, BuiltWithoutCuda) {
  GTEST_SKIP() << "relmimic was built without the CUDA backend (RELMIMIC_CUDA=OFF or no nvcc)";
}
#endif

}  // namespace
}  // namespace relmimic
