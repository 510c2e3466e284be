// Linear CPU reference: forward against a direct loop, backward against finite differences,
// accumulation, float vs double, and the agent's FC shape.
#include <gtest/gtest.h>

#include <vector>

#include "kernels/common.h"
#include "kernels/linear.h"
#include "tests/grad_check.h"

namespace relmimic {
namespace {

using testing::numeric_grad;
using testing::random_vector;
using testing::rel_error;

template <class T>
std::vector<double> direct(int M, int N, int K, const T* x, const T* w, const T* b) {
  std::vector<double> y(size_t(M) * N);
  for (int m = 0; m < M; ++m)
    for (int n = 0; n < N; ++n) {
      double s = b ? double(b[n]) : 0.0;
      for (int k = 0; k < K; ++k) s += double(x[m * K + k]) * double(w[n * K + k]);
      y[size_t(m * N + n)] = s;
    }
  return y;
}

TEST(Linear, ForwardMatchesDirectLoop) {
  const int M = 5, N = 7, K = 9;
  Rng rng(1);
  auto x = random_vector<double>(M * K, rng), w = random_vector<double>(N * K, rng),
       b = random_vector<double>(N, rng);
  std::vector<double> y(size_t(M) * N, 99.0);
  kernels::linear_forward_cpu(M, N, K, x.data(), w.data(), b.data(), y.data());
  EXPECT_LT(rel_error(y, direct(M, N, K, x.data(), w.data(), b.data())), 1e-14);
  kernels::linear_forward_cpu<double>(M, N, K, x.data(), w.data(), nullptr, y.data());
  EXPECT_LT(rel_error(y, direct<double>(M, N, K, x.data(), w.data(), nullptr)), 1e-14);
}

TEST(Linear, BackwardMatchesFiniteDifferencesAndAccumulates) {
  const int M = 3, N = 4, K = 6;
  Rng rng(2);
  auto x = random_vector<double>(M * K, rng), w = random_vector<double>(N * K, rng),
       b = random_vector<double>(N, rng), r = random_vector<double>(M * N, rng);
  std::vector<double> y(r.size());
  auto loss = [&] {
    kernels::linear_forward_cpu(M, N, K, x.data(), w.data(), b.data(), y.data());
    double l = 0;
    for (size_t i = 0; i < y.size(); ++i) l += y[i] * r[i];
    return l;
  };
  const auto w0 = random_vector<double>(N * K, rng), b0 = random_vector<double>(N, rng);
  std::vector<double> dx(x.size(), 5.0), dw(w0), db(b0);
  kernels::linear_backward_input_cpu(M, N, K, r.data(), w.data(), dx.data());
  kernels::linear_backward_weight_cpu(M, N, K, x.data(), r.data(), dw.data(), db.data());
  for (size_t i = 0; i < dw.size(); ++i) dw[i] -= w0[i];  // accumulated on top of w0
  for (size_t i = 0; i < db.size(); ++i) db[i] -= b0[i];
  EXPECT_LT(rel_error(dx, numeric_grad(loss, x.data(), long(x.size()))), 1e-6);
  EXPECT_LT(rel_error(dw, numeric_grad(loss, w.data(), long(w.size()))), 1e-6);
  EXPECT_LT(rel_error(db, numeric_grad(loss, b.data(), long(b.size()))), 1e-6);
}

// FC 3528 -> 128 at batch 32 (large enough to be split over threads), float vs double.
TEST(Linear, AgentFcFloatAgreesWithDouble) {
  const int M = 32, N = 128, K = 3528;
  Rng rng(4);
  auto xd = random_vector<double>(long(M) * K, rng), wd = random_vector<double>(long(N) * K, rng),
       bd = random_vector<double>(N, rng), dyd = random_vector<double>(long(M) * N, rng);
  std::vector<float> xf(xd.begin(), xd.end()), wf(wd.begin(), wd.end()), bf(bd.begin(), bd.end()),
      dyf(dyd.begin(), dyd.end());
  std::vector<double> yd(size_t(M) * N), dxd(xd.size()), dwd(wd.size(), 0.0), dbd(size_t(N), 0.0);
  std::vector<float> yf(yd.size()), dxf(xd.size()), dwf(wd.size(), 0.f), dbf(size_t(N), 0.f);
  kernels::linear_forward_cpu(M, N, K, xd.data(), wd.data(), bd.data(), yd.data());
  kernels::linear_forward_cpu(M, N, K, xf.data(), wf.data(), bf.data(), yf.data());
  kernels::linear_backward_input_cpu(M, N, K, dyd.data(), wd.data(), dxd.data());
  kernels::linear_backward_input_cpu(M, N, K, dyf.data(), wf.data(), dxf.data());
  kernels::linear_backward_weight_cpu(M, N, K, xd.data(), dyd.data(), dwd.data(), dbd.data());
  kernels::linear_backward_weight_cpu(M, N, K, xf.data(), dyf.data(), dwf.data(), dbf.data());
  EXPECT_LT(rel_error(yd, direct(M, N, K, xd.data(), wd.data(), bd.data())), 1e-13);
  EXPECT_LT(rel_error(yf, yd), 1e-5);
  EXPECT_LT(rel_error(dxf, dxd), 1e-5);
  EXPECT_LT(rel_error(dwf, dwd), 1e-5);
  EXPECT_LT(rel_error(dbf, dbd), 1e-5);
}

TEST(Linear, RejectsBadSizes) {
  std::vector<float> buf(16);
  EXPECT_THROW(
      kernels::linear_forward_cpu<float>(0, 2, 2, buf.data(), buf.data(), nullptr, buf.data()),
      Error);
  EXPECT_THROW(kernels::linear_backward_input_cpu<float>(2, 2, 2, nullptr, buf.data(), buf.data()),
               Error);
}

}  // namespace
}  // namespace relmimic
