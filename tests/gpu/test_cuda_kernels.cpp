// CUDA kernels against the CPU reference. Skipped, with the reason, where there is no GPU.
#include <gtest/gtest.h>

#include <vector>

#include "engine/tensor.h"
#include "kernels/activation.h"
#include "kernels/adam.h"
#include "kernels/device.h"
#include "tests/grad_check.h"

namespace relmimic {
namespace {

#define REQUIRE_GPU()                                                                \
  do {                                                                               \
    if (kernels::cuda_device_count() == 0)                                           \
      GTEST_SKIP() << "no CUDA device here (" << kernels::cuda_device_description(0) \
                   << "): CUDA-vs-CPU parity runs only on a GPU machine";            \
  } while (0)

#ifdef RELMIMIC_WITH_CUDA
template <class T>
Tensor to_device(const std::vector<T>& v) {
  Tensor d = Tensor::zeros({int64_t(v.size())}, dtype_of<T>(), Device::cuda(0));
  d.copy_from(Tensor::view(const_cast<T*>(v.data()), {int64_t(v.size())}, dtype_of<T>()));
  return d;
}

template <class T>
std::vector<T> to_host(const Tensor& d) {
  std::vector<T> v(static_cast<size_t>(d.numel()));
  Tensor::view(v.data(), d.shape(), d.dtype()).copy_from(d);
  return v;
}

TEST(CudaParity, DeviceMemoryRoundTrips) {
  REQUIRE_GPU();
  Rng rng(1);
  auto x = testing::random_vector<float>(1000, rng);
  Tensor d = to_device(x);
  EXPECT_EQ(to_host<float>(d), x);
  d.zero();
  EXPECT_EQ(to_host<float>(d), std::vector<float>(1000, 0.f));
}

TEST(CudaParity, AdamMatchesCpu) {
  REQUIRE_GPU();
  Rng rng(2);
  const long n = 100003;  // not a multiple of the block size
  auto p = testing::random_vector<float>(n, rng), g = testing::random_vector<float>(n, rng);
  std::vector<float> m(static_cast<size_t>(n), 0.f), v(static_cast<size_t>(n), 0.f);
  Tensor dp = to_device(p), dg = to_device(g), dm = to_device(m), dv = to_device(v);
  kernels::AdamParams hp;
  for (long s = 1; s <= 3; ++s) {
    hp.step = s;
    kernels::adam_step_cpu(n, p.data(), g.data(), m.data(), v.data(), hp);
    kernels::adam_step_cuda(n, dp.data<float>(), dg.data<float>(), dm.data<float>(),
                            dv.data<float>(), hp);
  }
  EXPECT_LT(testing::rel_error(to_host<float>(dp), p), 1e-6);
  EXPECT_LT(testing::rel_error(to_host<float>(dm), m), 1e-6);
  EXPECT_LT(testing::rel_error(to_host<float>(dv), v), 1e-6);
}

TEST(CudaParity, ActivationsMatchCpu) {
  REQUIRE_GPU();
  Rng rng(3);
  const long n = 4099;
  auto x = testing::random_vector<double>(n, rng, -3, 3);
  auto dy = testing::random_vector<double>(n, rng);
  for (auto a :
       {kernels::Act::ReLU, kernels::Act::LeakyReLU, kernels::Act::Tanh, kernels::Act::Sigmoid}) {
    std::vector<double> y(static_cast<size_t>(n)), dx(static_cast<size_t>(n));
    kernels::activation_forward_cpu(a, n, x.data(), y.data(), 0.1);
    kernels::activation_backward_cpu(a, n, x.data(), y.data(), dy.data(), dx.data(), 0.1);
    Tensor dxs = to_device(x), dys = to_device(dy);
    Tensor yd = Tensor::zeros({n}, DType::f64, Device::cuda(0));
    Tensor dxd = Tensor::zeros({n}, DType::f64, Device::cuda(0));
    // Poison the outputs: every element must be written.
    std::vector<double> nan(static_cast<size_t>(n), std::nan(""));
    yd.copy_from(Tensor::view(nan.data(), {n}, DType::f64));
    dxd.copy_from(Tensor::view(nan.data(), {n}, DType::f64));
    kernels::activation_forward_cuda(a, n, dxs.data<double>(), yd.data<double>(), 0.1);
    kernels::activation_backward_cuda(a, n, dxs.data<double>(), yd.data<double>(),
                                      dys.data<double>(), dxd.data<double>(), 0.1);
    EXPECT_LT(testing::rel_error(to_host<double>(yd), y), 1e-12) << kernels::act_name(a);
    EXPECT_LT(testing::rel_error(to_host<double>(dxd), dx), 1e-12) << kernels::act_name(a);
  }
}

// Adam and the activations queue on the stream they are given, like every other kernel: here a
// non-blocking one that the legacy default stream does not wait for. (Under the host emulation a
// launch on another stream than its producer's stops the program as a stream hazard.)
TEST(CudaParity, AdamAndActivationsRunOnTheirStream) {
  REQUIRE_GPU();
  Rng rng(4);
  const long n = 5003;
  auto x = testing::random_vector<float>(n, rng, -2, 2), dy = testing::random_vector<float>(n, rng);
  auto p = testing::random_vector<float>(n, rng);
  std::vector<float> y(static_cast<size_t>(n)), dx(static_cast<size_t>(n));
  std::vector<float> m(static_cast<size_t>(n), 0.f), v(m);
  Tensor dxs = to_device(x), ddy = to_device(dy), dp = to_device(p);
  const auto a = kernels::Act::Tanh;
  kernels::activation_forward_cpu(a, n, x.data(), y.data(), 0.f);
  kernels::activation_backward_cpu(a, n, x.data(), y.data(), dy.data(), dx.data(), 0.f);
  kernels::activation_second_order_cpu(a, n, x.data(), y.data(), dy.data(), x.data(), dx.data(),
                                       0.f);
  // Adam's gradient is the forward's output (well away from 0, where Adam's step is sensitive).
  kernels::AdamParams hp;
  kernels::adam_step_cpu(n, p.data(), y.data(), m.data(), v.data(), hp);

  Tensor dyd = Tensor::zeros({n}, DType::f32, Device::cuda(0));
  Tensor ddx = Tensor::zeros({n}, DType::f32, Device::cuda(0));
  Tensor dm = Tensor::zeros({n}, DType::f32, Device::cuda(0));
  Tensor dv = Tensor::zeros({n}, DType::f32, Device::cuda(0));
  kernels::cuda_synchronize();
  kernels::Stream s = kernels::cuda_stream_create(true);
  kernels::activation_forward_cuda(a, n, dxs.data<float>(), dyd.data<float>(), 0.f, s);
  kernels::activation_backward_cuda(a, n, dxs.data<float>(), dyd.data<float>(), ddy.data<float>(),
                                    ddx.data<float>(), 0.f, s);
  kernels::activation_second_order_cuda(a, n, dxs.data<float>(), dyd.data<float>(),
                                        ddy.data<float>(), dxs.data<float>(), ddx.data<float>(),
                                        0.f, s);
  kernels::adam_step_cuda(n, dp.data<float>(), dyd.data<float>(), dm.data<float>(),
                          dv.data<float>(), hp, s);
  kernels::cuda_stream_synchronize(s);
  kernels::cuda_stream_destroy(s);
  EXPECT_LT(testing::rel_error(to_host<float>(dyd), y), 1e-6);
  EXPECT_LT(testing::rel_error(to_host<float>(ddx), dx), 1e-5);
  EXPECT_LT(testing::rel_error(to_host<float>(dp), p), 1e-6);
}

#else
TEST(CudaParity, BuiltWithoutCuda) {
  GTEST_SKIP() << "relmimic was built without the CUDA backend (RELMIMIC_CUDA=OFF or no nvcc)";
}
#endif

TEST(CudaParity, MissingDeviceGivesAClearError) {
  const int n = kernels::cuda_device_count();
  try {
    Tensor::zeros({4}, DType::f32, Device::cuda(n));
    FAIL() << "allocating on a device that does not exist succeeded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no CUDA device"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace relmimic
