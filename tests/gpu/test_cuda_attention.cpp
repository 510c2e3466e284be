// Relational-block attention on the device (fused and unfused cuBLAS paths, second-order passes)
// against the CPU reference in double, on the networks' exact shapes and on odd ones.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "engine/rng.h"
#include "kernels/attention.h"
#include "kernels/common.h"
#include "tests/gpu/close_check.h"
#include "tests/gpu/cuda_test_util.h"

namespace relmimic {
namespace {

using kernels::AttentionDims;
using kernels::AttentionPath;
using testing::cast;
using testing::close;
using testing::DeviceBuffer;

#ifdef RELMIMIC_WITH_CUDA

// (C', N) of every relational block in SPEC.md's networks.
struct Shape {
  int channels, positions;
  const char* where;
};
constexpr Shape kNetworkShapes[] = {{2, 441, "agent 21x21, C'=2"},
                                    {8, 441, "reward 21x21, C'=8"},
                                    {16, 100, "reward 10x10, C'=16"}};

// Per-precision tolerances of the fused and unfused device paths against the double reference.
template <class T>
struct Tol;
template <>
struct Tol<float> {
  static constexpr double value = 5e-5, grad = 1e-4;
};
template <>
struct Tol<double> {
  static constexpr double value = 1e-11, grad = 1e-10;
};

// Inputs drawn fresh per case; `scale` > 1 makes the scores large (nearly one-hot rows).
struct Inputs {
  AttentionDims d;
  std::vector<double> theta, phi, g, dy;
  Inputs(int batch, int channels, int positions, uint64_t seed, double scale = 1.0)
      : d{batch, channels, positions} {
    Rng rng(seed);
    const long n = d.batch * d.qkv_size();
    theta = testing::random_vector<double>(n, rng, -scale, scale);
    phi = testing::random_vector<double>(n, rng, -scale, scale);
    g = testing::random_vector<double>(n, rng);
    dy = testing::random_vector<double>(n, rng);
  }
  long qkv() const { return d.batch * d.qkv_size(); }
  long attn() const { return d.batch * d.attn_size(); }
  long rows() const { return long(d.batch) * d.positions; }
};

// The CPU reference in double, plus lse_i = log sum_j exp(S_ij).
struct Reference {
  std::vector<double> y, attn, lse, dtheta, dphi, dg;
  explicit Reference(const Inputs& in)
      : y(in.qkv()),
        attn(in.attn()),
        lse(in.rows()),
        dtheta(in.qkv()),
        dphi(in.qkv()),
        dg(in.qkv()) {
    const AttentionDims& d = in.d;
    kernels::attention_forward_cpu(d, in.theta.data(), in.phi.data(), in.g.data(), y.data(),
                                   attn.data());
    kernels::attention_backward_cpu(d, in.theta.data(), in.phi.data(), in.g.data(), attn.data(),
                                    in.dy.data(), dtheta.data(), dphi.data(), dg.data());
    const int c = d.channels, n = d.positions;
    for (int b = 0; b < d.batch; ++b)
      for (int i = 0; i < n; ++i) {
        std::vector<double> s(static_cast<size_t>(n), 0.0);
        double m = -INFINITY;
        for (int j = 0; j < n; ++j) {
          for (int k = 0; k < c; ++k)
            s[size_t(j)] += in.theta[size_t(b * d.qkv_size() + long(k) * n + i)] *
                            in.phi[size_t(b * d.qkv_size() + long(k) * n + j)];
          m = std::max(m, s[size_t(j)]);
        }
        double sum = 0;
        for (double v : s) sum += std::exp(v - m);
        lse[size_t(long(b) * n + i)] = m + std::log(sum);
      }
  }
};

// Device copies of the inputs in precision T, and poisoned outputs.
template <class T>
struct OnDevice {
  DeviceBuffer<T> theta, phi, g, dy, y, lse, attn, dtheta, dphi, dg, work;
  OnDevice(const Inputs& in, bool unfused)
      : theta(cast<T>(in.theta)),
        phi(cast<T>(in.phi)),
        g(cast<T>(in.g)),
        dy(cast<T>(in.dy)),
        y(in.qkv()),
        lse(in.rows()),
        attn(unfused ? in.attn() : 0),
        dtheta(in.qkv()),
        dphi(in.qkv()),
        dg(in.qkv()),
        work(unfused ? in.attn() : 0) {
    for (DeviceBuffer<T>* out : {&y, &lse, &attn, &dtheta, &dphi, &dg}) out->poison();
  }
  void forward(AttentionPath path, const AttentionDims& d) {
    kernels::attention_forward_cuda(path, d, theta.get(), phi.get(), g.get(), y.get(), lse.get(),
                                    path == AttentionPath::Unfused ? attn.get() : nullptr);
  }
  void backward(AttentionPath path, const AttentionDims& d) {
    const bool unfused = path == AttentionPath::Unfused;
    kernels::attention_backward_cuda(path, d, theta.get(), phi.get(), g.get(), y.get(), lse.get(),
                                     unfused ? attn.get() : nullptr, dy.get(), dtheta.get(),
                                     dphi.get(), dg.get(), unfused ? work.get() : nullptr);
  }
};

template <class T>
void check_path(AttentionPath path, const Inputs& in, const std::string& what) {
  SCOPED_TRACE(what + ", " + kernels::attention_path_name(path) + ", " +
               (sizeof(T) == 4 ? "float" : "double"));
  const Reference ref(in);
  OnDevice<T> dev(in, path == AttentionPath::Unfused);
  dev.forward(path, in.d);
  dev.backward(path, in.d);
  EXPECT_TRUE(close(dev.y.download(), ref.y, Tol<T>::value)) << "y";
  EXPECT_TRUE(close(dev.lse.download(), ref.lse, Tol<T>::value)) << "lse";
  if (path == AttentionPath::Unfused)
    EXPECT_TRUE(close(dev.attn.download(), ref.attn, Tol<T>::value)) << "attn";
  EXPECT_TRUE(close(dev.dtheta.download(), ref.dtheta, Tol<T>::grad)) << "dtheta";
  EXPECT_TRUE(close(dev.dphi.download(), ref.dphi, Tol<T>::grad)) << "dphi";
  EXPECT_TRUE(close(dev.dg.download(), ref.dg, Tol<T>::grad)) << "dg";
}

TEST(CudaAttention, BothPathsMatchCpuOnNetworkShapes) {
  RM_REQUIRE_GPU();
  uint64_t seed = 100;
  const int batch = testing::quick_mode() ? 1 : 3;
  for (const Shape& s : kNetworkShapes)
    for (AttentionPath path : {AttentionPath::Fused, AttentionPath::Unfused}) {
      check_path<float>(path, Inputs(batch, s.channels, s.positions, ++seed), s.where);
      check_path<double>(path, Inputs(batch, s.channels, s.positions, ++seed), s.where);
    }
}

// Channel counts that pad the fused register tiles, N = 1 and sizes around the tile edges, and
// scores large enough (|S| up to ~C' * 9) that a softmax without the running max overflows.
TEST(CudaAttention, FusedHandlesOddSizesAndLargeScores) {
  RM_REQUIRE_GPU();
  uint64_t seed = 200;
  const bool quick = testing::quick_mode();  // under compute-sanitizer: the tile edges only
  for (int c : {1, 3, 5, 17, 32})
    for (int n : {1, 7, 129, 300}) {
      if (quick && (c % 2 == 0 || n != 129)) continue;
      const std::string what = "C'=" + std::to_string(c) + " N=" + std::to_string(n);
      check_path<float>(AttentionPath::Fused, Inputs(2, c, n, ++seed, 3.0), what);
      check_path<double>(AttentionPath::Fused, Inputs(2, c, n, ++seed, 3.0), what);
    }
  // The unfused path takes any C'.
  check_path<double>(AttentionPath::Unfused, Inputs(2, 40, 65, ++seed, 3.0), "C'=40 N=65");
}

// The two device paths on a training-sized batch: same y, lse and gradients; and the fused
// backward accepts the unfused forward's y and lse (the log-sum-exp contracts agree).
TEST(CudaAttention, FusedAndUnfusedAgree) {
  RM_REQUIRE_GPU();
  uint64_t seed = 300;
  for (const Shape& s : kNetworkShapes) {
    SCOPED_TRACE(s.where);
    const Inputs in(testing::quick_mode() ? 2 : 64, s.channels, s.positions, ++seed);
    OnDevice<float> fused(in, false), unfused(in, true);
    fused.forward(AttentionPath::Fused, in.d);
    fused.backward(AttentionPath::Fused, in.d);
    unfused.forward(AttentionPath::Unfused, in.d);
    unfused.backward(AttentionPath::Unfused, in.d);
    EXPECT_TRUE(close(fused.y.download(), unfused.y.download(), 2e-5));
    EXPECT_TRUE(close(fused.lse.download(), unfused.lse.download(), 2e-5));
    EXPECT_TRUE(close(fused.dtheta.download(), unfused.dtheta.download(), 2e-4));
    EXPECT_TRUE(close(fused.dphi.download(), unfused.dphi.download(), 2e-4));
    EXPECT_TRUE(close(fused.dg.download(), unfused.dg.download(), 2e-4));

    const std::vector<float> dtheta_unfused = unfused.dtheta.download();
    unfused.dtheta.poison();
    unfused.backward(AttentionPath::Fused, in.d);
    EXPECT_TRUE(close(unfused.dtheta.download(), dtheta_unfused, 2e-4)) << "mixed paths";
  }
}

// The fused backward is deterministic: no atomics, one writer per element.
TEST(CudaAttention, FusedBackwardIsBitwiseRepeatable) {
  RM_REQUIRE_GPU();
  const Inputs in(32, 8, 441, 400);
  OnDevice<float> dev(in, false);
  dev.forward(AttentionPath::Fused, in.d);
  dev.backward(AttentionPath::Fused, in.d);
  const std::vector<float> first = dev.dphi.download();
  dev.dphi.poison();
  dev.backward(AttentionPath::Fused, in.d);
  EXPECT_EQ(dev.dphi.download(), first);
}

// Second-order passes (unfused) against attention_jvp_cpu / attention_backward_jvp_cpu, with A
// from the unfused forward and, the second time, rebuilt from a fused forward's lse.
template <class T>
void check_second_order(const Inputs& in, bool attn_from_lse, const std::string& what) {
  SCOPED_TRACE(what + (attn_from_lse ? ", A from lse" : ", A from forward") + ", " +
               (sizeof(T) == 4 ? "float" : "double"));
  const AttentionDims& d = in.d;
  Rng rng(in.d.channels * 1000 + in.d.positions);
  const long q = in.qkv(), a = in.attn();
  const auto t_theta = testing::random_vector<double>(q, rng),
             t_phi = testing::random_vector<double>(q, rng),
             t_g = testing::random_vector<double>(q, rng),
             dt_y = testing::random_vector<double>(q, rng);
  const Reference ref(in);
  std::vector<double> t_y(q), s_dot(a), dth(q), dph(q), dg(q), dtth(q), dtph(q), dtg(q);
  kernels::attention_jvp_cpu(d, in.theta.data(), in.phi.data(), in.g.data(), ref.attn.data(),
                             t_theta.data(), t_phi.data(), t_g.data(), t_y.data(), s_dot.data());
  kernels::attention_backward_jvp_cpu(d, in.theta.data(), in.phi.data(), in.g.data(),
                                      ref.attn.data(), t_theta.data(), t_phi.data(), t_g.data(),
                                      s_dot.data(), in.dy.data(), dt_y.data(), dth.data(),
                                      dph.data(), dg.data(), dtth.data(), dtph.data(), dtg.data());

  OnDevice<T> dev(in, true);
  if (attn_from_lse) {
    dev.forward(AttentionPath::Fused, d);
    kernels::attention_probs_cuda(d, dev.theta.get(), dev.phi.get(), dev.lse.get(), dev.attn.get());
  } else {
    dev.forward(AttentionPath::Unfused, d);
  }
  EXPECT_TRUE(close(dev.attn.download(), ref.attn, Tol<T>::value)) << "attn";
  DeviceBuffer<T> tt(cast<T>(t_theta)), tp(cast<T>(t_phi)), tg(cast<T>(t_g)), dty(cast<T>(dt_y));
  DeviceBuffer<T> ty(q), sd(a), o_dth(q), o_dph(q), o_dg(q), o_dtth(q), o_dtph(q), o_dtg(q),
      work(3 * a);
  for (DeviceBuffer<T>* out : {&ty, &sd, &o_dth, &o_dph, &o_dg, &o_dtth, &o_dtph, &o_dtg, &work})
    out->poison();
  kernels::attention_jvp_cuda(d, dev.theta.get(), dev.phi.get(), dev.g.get(), dev.attn.get(),
                              tt.get(), tp.get(), tg.get(), ty.get(), sd.get(), work.get());
  work.poison();
  kernels::attention_backward_jvp_cuda(
      d, dev.theta.get(), dev.phi.get(), dev.g.get(), dev.attn.get(), tt.get(), tp.get(), tg.get(),
      sd.get(), dev.dy.get(), dty.get(), o_dth.get(), o_dph.get(), o_dg.get(), o_dtth.get(),
      o_dtph.get(), o_dtg.get(), work.get());
  EXPECT_TRUE(close(ty.download(), t_y, Tol<T>::grad)) << "t_y";
  EXPECT_TRUE(close(sd.download(), s_dot, Tol<T>::grad)) << "s_dot";
  EXPECT_TRUE(close(o_dth.download(), dth, Tol<T>::grad)) << "dtheta";
  EXPECT_TRUE(close(o_dph.download(), dph, Tol<T>::grad)) << "dphi";
  EXPECT_TRUE(close(o_dg.download(), dg, Tol<T>::grad)) << "dg";
  EXPECT_TRUE(close(o_dtth.download(), dtth, Tol<T>::grad)) << "dt_theta";
  EXPECT_TRUE(close(o_dtph.download(), dtph, Tol<T>::grad)) << "dt_phi";
  EXPECT_TRUE(close(o_dtg.download(), dtg, Tol<T>::grad)) << "dt_g";
}

TEST(CudaAttention, SecondOrderPassesMatchCpu) {
  RM_REQUIRE_GPU();
  uint64_t seed = 500;
  for (const Shape& s : kNetworkShapes)
    for (bool from_lse : {false, true}) {
      check_second_order<double>(Inputs(2, s.channels, s.positions, ++seed), from_lse, s.where);
      check_second_order<float>(Inputs(2, s.channels, s.positions, ++seed), from_lse, s.where);
    }
}

#endif  // RELMIMIC_WITH_CUDA

// Argument checks run on the host before any launch: they hold in every CUDA build, GPU or not.
#ifdef RELMIMIC_WITH_CUDA
TEST(CudaAttention, RejectsBadArguments) {
  std::vector<float> host(64);
  float* p = host.data();  // never dereferenced: every call below fails its checks first
  auto expect_error = [](auto&& call, const std::string& needle) {
    try {
      call();
      ADD_FAILURE() << "no error; expected one mentioning '" << needle << "'";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_error(
      [&] {
        kernels::attention_forward_cuda<float>(AttentionPath::Fused, {2, 33, 100}, p, p, p, p, p,
                                               nullptr);
      },
      "C' <= 32");
  expect_error(
      [&] {
        kernels::attention_forward_cuda<float>(AttentionPath::Unfused, {2, 8, 100}, p, p, p, p, p,
                                               nullptr);
      },
      "pointer argument 5 is null");
  expect_error(
      [&] {
        kernels::attention_backward_cuda<float>(AttentionPath::Fused, {0, 8, 100}, p, p, p, p, p,
                                                nullptr, p, p, p, p, nullptr);
      },
      "dimensions must be positive");
  expect_error(
      [&] {
        kernels::attention_jvp_cuda<float>({1, 2, 50000}, p, p, p, p, p, p, p, p, p, p);
      },
      "exceeds");
}
#else
TEST(CudaAttention, BuiltWithoutCuda) {
  GTEST_SKIP() << "relmimic was built without the CUDA backend (RELMIMIC_CUDA=OFF or no nvcc)";
}
#endif

}  // namespace
}  // namespace relmimic
