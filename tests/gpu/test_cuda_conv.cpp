// CUDA conv2d and MaxPool3D against the CPU reference (double for conv, bit-exact for the pool)
// on every network shape of SPEC.md, FP32 and TF32, outputs poisoned with NaN before each run;
// cuDNN as a second opinion. Skipped, with the reason, where there is no GPU.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "engine/rng.h"
#include "kernels/common.h"
#include "kernels/conv2d.h"
#include "kernels/cudnn_baseline.h"
#include "kernels/pool3d.h"
#include "tests/gpu/cuda_test_util.h"
#include "tests/gpu/net_shapes.h"

namespace relmimic {
namespace {

using kernels::Conv2dDims;
using kernels::CudaMath;
using kernels::Pool3dDims;
using testing::DeviceBuffer;

#ifdef RELMIMIC_WITH_CUDA

// Fresh random inputs of one conv, in float (the kernels') and double (the reference's).
struct ConvCase {
  Conv2dDims d;
  std::vector<float> x, w, b, dy, dw0, db0;
  std::vector<double> y_ref, dx_ref, dw_ref, db_ref;

  ConvCase(const Conv2dDims& dims, uint64_t seed) : d(dims) {
    Rng rng(seed);
    x = testing::random_vector<float>(d.batch * d.in_size(), rng);
    w = testing::random_vector<float>(d.weight_size(), rng);
    b = testing::random_vector<float>(d.out_c, rng);
    dy = testing::random_vector<float>(d.batch * d.out_size(), rng);
    dw0 = testing::random_vector<float>(d.weight_size(), rng);
    db0 = testing::random_vector<float>(d.out_c, rng);
    const auto xd = testing::to_double(x), wd = testing::to_double(w), bd = testing::to_double(b);
    const auto dyd = testing::to_double(dy);
    y_ref.resize(dy.size());
    kernels::conv2d_forward_cpu(d, xd.data(), wd.data(), bd.data(), y_ref.data());
    dx_ref.resize(x.size());
    kernels::conv2d_backward_input_cpu(d, dyd.data(), wd.data(), dx_ref.data());
    dw_ref = testing::to_double(dw0);
    db_ref = testing::to_double(db0);
    kernels::conv2d_backward_weight_cpu(d, xd.data(), dyd.data(), dw_ref.data(), db_ref.data());
  }
};

std::vector<testing::NetConv> conv_shapes() {
  std::vector<testing::NetConv> v;
  const auto& all = testing::net_convs();
  for (size_t i = 0; i < all.size(); i += testing::quick_mode() ? 3 : 1) v.push_back(all[i]);
  return v;
}

int test_batch() {
  return testing::quick_mode() ? 1 : 3;
}

TEST(CudaConv, MatchesCpuOnNetworkShapes) {
  RM_REQUIRE_GPU();
  uint64_t seed = 100;
  for (const auto& s : conv_shapes()) {
    Conv2dDims d = s.d;
    d.batch = test_batch();
    const ConvCase c(d, ++seed);
    DeviceBuffer<float> x(c.x), w(c.w), b(c.b), dy(c.dy);
    DeviceBuffer<float> y(long(c.dy.size())), dx(long(c.x.size())), dw(c.dw0), db(c.db0);
    for (CudaMath math : {CudaMath::FP32, CudaMath::TF32}) {
      SCOPED_TRACE(std::string(s.name) + " " + kernels::cuda_math_name(math));
      y.poison();
      kernels::conv2d_forward_cuda(d, x.get(), w.get(), b.get(), y.get(), math);
      testing::expect_close(y.download(), c.y_ref, math, "forward");

      dx.poison();
      kernels::conv2d_backward_input_cuda(d, dy.get(), w.get(), dx.get(), math);
      testing::expect_close(dx.download(), c.dx_ref, math, "backward_input");

      dw.upload(c.dw0);
      db.upload(c.db0);
      kernels::conv2d_backward_weight_cuda(d, x.get(), dy.get(), dw.get(), db.get(), math);
      testing::expect_close(dw.download(), c.dw_ref, math, "backward_weight dw");
      testing::expect_close(db.download(), c.db_ref, math, "backward_weight db");
    }
  }
}

TEST(CudaConv, NullBiasAndNullDbAreSkipped) {
  RM_REQUIRE_GPU();
  Conv2dDims d = testing::conv(8, 21, 16, 3, 1, 1);
  d.batch = 2;
  const ConvCase c(d, 7);
  std::vector<double> y_ref(c.dy.size());
  const auto xd = testing::to_double(c.x), wd = testing::to_double(c.w);
  kernels::conv2d_forward_cpu<double>(d, xd.data(), wd.data(), nullptr, y_ref.data());
  DeviceBuffer<float> x(c.x), w(c.w), y(long(c.dy.size())), dy(c.dy), dw(c.dw0);
  y.poison();
  kernels::conv2d_forward_cuda(d, x.get(), w.get(), nullptr, y.get());
  testing::expect_close(y.download(), y_ref, CudaMath::FP32, "forward without bias");
  kernels::conv2d_backward_weight_cuda(d, x.get(), dy.get(), dw.get(), nullptr);
  testing::expect_close(dw.download(), c.dw_ref, CudaMath::FP32, "backward_weight without db");
}

// Same inputs, same bits: backward_weight reduces over the batch in a fixed order.
TEST(CudaConv, BackwardWeightIsDeterministic) {
  RM_REQUIRE_GPU();
  Conv2dDims d = testing::conv(4, 84, 32, 5, 2, 1);
  d.batch = 16;
  const ConvCase c(d, 8);
  DeviceBuffer<float> x(c.x), dy(c.dy), dw(c.dw0), db(c.db0);
  for (CudaMath math : {CudaMath::FP32, CudaMath::TF32}) {
    std::vector<float> first_dw, first_db;
    for (int run = 0; run < 3; ++run) {
      dw.upload(c.dw0);
      db.upload(c.db0);
      kernels::conv2d_backward_weight_cuda(d, x.get(), dy.get(), dw.get(), db.get(), math);
      if (run == 0) {
        first_dw = dw.download();
        first_db = db.download();
      } else {
        EXPECT_EQ(dw.download(), first_dw) << kernels::cuda_math_name(math) << " run " << run;
        EXPECT_EQ(db.download(), first_db) << kernels::cuda_math_name(math) << " run " << run;
      }
    }
  }
}

TEST(CudaConv, CudnnAgreesOnNetworkShapes) {
  RM_REQUIRE_GPU();
  if (!kernels::cudnn_available()) GTEST_SKIP() << kernels::cudnn_description();
  uint64_t seed = 200;
  for (const auto& s : conv_shapes()) {
    Conv2dDims d = s.d;
    d.batch = test_batch();
    const ConvCase c(d, ++seed);
    DeviceBuffer<float> x(c.x), w(c.w), b(c.b), dy(c.dy);
    DeviceBuffer<float> y(long(c.dy.size())), dx(long(c.x.size())), dw(c.dw0), db(c.db0);
    for (CudaMath math : {CudaMath::FP32, CudaMath::TF32}) {
      // cuDNN may pick FFT or Winograd kernels, a little less exact than direct FMA sums.
      const testing::Tolerance tol =
          math == CudaMath::FP32 ? testing::Tolerance{1e-4, 1e-4} : testing::tolerance(math);
      const kernels::CudnnConv2d conv(d, math);
      SCOPED_TRACE(std::string(s.name) + " cuDNN " + kernels::cuda_math_name(math) + ": " +
                   conv.algorithms());
      y.poison();
      conv.forward(x.get(), w.get(), b.get(), y.get());
      testing::expect_close(y.download(), c.y_ref, math, "cuDNN forward", tol);
      dx.poison();
      conv.backward_input(dy.get(), w.get(), dx.get());
      testing::expect_close(dx.download(), c.dx_ref, math, "cuDNN backward_input", tol);
      dw.upload(c.dw0);
      db.upload(c.db0);
      conv.backward_weight(x.get(), dy.get(), dw.get(), db.get());
      testing::expect_close(dw.download(), c.dw_ref, math, "cuDNN backward_weight dw", tol);
      testing::expect_close(db.download(), c.db_ref, math, "cuDNN backward_weight db", tol);
    }
  }
}

// --- MaxPool3D -------------------------------------------------------------------------------

template <class T>
bool same_bits(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), sizeof(T) * a.size()) == 0;
}

// levels > 0 draws from {0, .., levels-1}: many ties, which must resolve as on the CPU.
template <class T>
void check_pool(const Pool3dDims& d, int levels, const std::string& name) {
  SCOPED_TRACE(name + (levels ? " with ties" : ""));
  Rng rng(uint64_t(d.c * 31 + d.h + levels));
  const long in = d.batch * d.in_size(), out = d.batch * d.out_size();
  std::vector<T> x(static_cast<size_t>(in)), dy(static_cast<size_t>(out));
  for (auto& v : x) v = levels ? T(rng.below(uint64_t(levels))) : T(rng.uniform(-1, 1));
  for (auto& v : dy) v = T(rng.uniform(-1, 1));
  std::vector<T> y_ref(static_cast<size_t>(out)), dx_ref(static_cast<size_t>(in));
  std::vector<int32_t> arg_ref(static_cast<size_t>(out));
  kernels::pool3d_forward_cpu(d, x.data(), y_ref.data(), arg_ref.data());
  kernels::pool3d_backward_cpu(d, dy.data(), arg_ref.data(), dx_ref.data());

  DeviceBuffer<T> xd(x), dyd(dy), y(out), dx(in);
  DeviceBuffer<int32_t> arg(out);
  y.poison();
  arg.poison();
  kernels::pool3d_forward_cuda(d, xd.get(), y.get(), arg.get());
  EXPECT_TRUE(same_bits(y.download(), y_ref)) << "forward values";
  EXPECT_EQ(arg.download(), arg_ref) << "argmax";
  dx.poison();
  kernels::pool3d_backward_cuda(d, dyd.get(), arg.get(), dx.get());
  EXPECT_TRUE(same_bits(dx.download(), dx_ref)) << "backward";
}

TEST(CudaPool3d, MatchesCpuBitForBitOnNetworkShapes) {
  RM_REQUIRE_GPU();
  for (const auto& p : testing::net_pools()) {
    Pool3dDims d = p.d;
    d.batch = test_batch();
    check_pool<float>(d, 0, p.name);
    check_pool<float>(d, 3, p.name);
    check_pool<double>(d, 0, p.name);
  }
  // Padding on every axis, overlapping windows, strides beyond the window.
  check_pool<float>({2, 7, 9, 8, 3, 3, 2, 2, 2, 1, 1, 1, 1}, 0, "padded");
  check_pool<float>({2, 7, 9, 8, 3, 3, 2, 2, 2, 1, 1, 1, 1}, 2, "padded");
  check_pool<float>({2, 9, 5, 5, 2, 1, 1, 3, 2, 3, 0, 0, 0}, 0, "sparse");
}

TEST(CudaPool3d, CudnnAgreesOnNetworkShapes) {
  RM_REQUIRE_GPU();
  if (!kernels::cudnn_available()) GTEST_SKIP() << kernels::cudnn_description();
  for (const auto& p : testing::net_pools()) {
    SCOPED_TRACE(p.name);
    Pool3dDims d = p.d;
    d.batch = test_batch();
    Rng rng(uint64_t(d.c + d.h));
    // Distinct values: without ties the winner, and so the gradient, is unique.
    const auto x = testing::random_vector<float>(d.batch * d.in_size(), rng);
    const auto dy = testing::random_vector<float>(d.batch * d.out_size(), rng);
    std::vector<float> y_ref(dy.size()), dx_ref(x.size());
    std::vector<int32_t> arg(dy.size());
    kernels::pool3d_forward_cpu(d, x.data(), y_ref.data(), arg.data());
    kernels::pool3d_backward_cpu(d, dy.data(), arg.data(), dx_ref.data());
    const kernels::CudnnPool3d pool(d);
    DeviceBuffer<float> xd(x), dyd(dy), y(long(dy.size())), dx(long(x.size()));
    y.poison();
    pool.forward(xd.get(), y.get());
    EXPECT_EQ(y.download(), y_ref) << "cuDNN forward (a max is exact)";
    dx.poison();
    pool.backward(xd.get(), y.get(), dyd.get(), dx.get());
    EXPECT_LT(testing::max_rel_error(dx.download(), dx_ref), 1e-6) << "cuDNN backward";
  }
}

#else
TEST(CudaConv, BuiltWithoutCuda) {
  GTEST_SKIP() << "relmimic was built without the CUDA backend (RELMIMIC_CUDA=OFF or no nvcc)";
}
#endif

#ifdef RELMIMIC_WITH_CUDA
// Shape checks run before anything touches the device, so these need no GPU.
TEST(CudaConv, RejectsBadShapesWithTheFunctionsName) {
  float never_read = 0;
  Conv2dDims d = testing::conv(4, 8, 8, 3, 1, 0);
  d.batch = 0;
  try {
    kernels::conv2d_forward_cuda(d, &never_read, &never_read, nullptr, &never_read);
    FAIL() << "batch 0 accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("conv2d_forward_cuda"), std::string::npos) << e.what();
  }
  d.batch = 1;
  d.kh = 11;  // larger than the 8x8 input
  EXPECT_THROW(kernels::conv2d_backward_input_cuda(d, &never_read, &never_read, &never_read),
               Error);
  d.kh = 3;
  EXPECT_THROW(kernels::conv2d_backward_weight_cuda(d, nullptr, &never_read, &never_read, nullptr),
               Error);
  Pool3dDims p{1, 4, 8, 8, 2, 2, 2, 2, 2, 2, 2, 0, 0};  // padding as large as the window
  int32_t arg = 0;
  EXPECT_THROW(kernels::pool3d_forward_cuda(p, &never_read, &never_read, &arg), Error);
}
#endif

}  // namespace
}  // namespace relmimic
