// Finite-difference checks shared by the layer tests (double precision).
//   backward:     L(x, theta)      = <r, f(x)>                    -> dx, dtheta
//   jvp:          t_y              = (f(x + e t) - f(x - e t)) / 2e
//   backward_jvp: L2(x, t, theta)  = <dy, f(x)> + <dt_y, J(x) t>  -> dx, dt_x, dtheta
#pragma once

#include <gtest/gtest.h>
#include <omp.h>

#include <functional>
#include <vector>

#include "engine/layers.h"
#include "tests/grad_check.h"

namespace relmimic::testing {

// Tolerance for every double-precision finite-difference comparison in the engine tests.
constexpr double kFdTol = 1e-6;

// Runs the enclosing scope on one OpenMP thread. Finite differences make thousands of tiny
// kernel calls where a fork/join per call costs more than the work (and far more when the
// cores are shared); the threaded paths are covered by the full-size network tests.
class SerialScope {
 public:
  SerialScope() : prev_(omp_get_max_threads()) { omp_set_num_threads(1); }
  ~SerialScope() { omp_set_num_threads(prev_); }
  SerialScope(const SerialScope&) = delete;
  SerialScope& operator=(const SerialScope&) = delete;

 private:
  int prev_;
};

// One layer's world: parameter and buffer sets, an arena, and a Build over them.
struct World {
  explicit World(int max_batch, bool second_order = true)
      : build{params, buffers, arena, max_batch, second_order} {}
  ParamSet<double> params, buffers;
  Arena arena{Device::cpu(), size_t(1) << 20};
  Build<double> build;
};

inline Tensor random_tensor(const Shape& s, Rng& rng, double lo = -1.0, double hi = 1.0) {
  Tensor t = Tensor::zeros(s, DType::f64);
  fill_uniform(t.data<double>(), t.numel(), rng, lo, hi);
  return t;
}

inline std::vector<double> to_vector(const Tensor& t) {
  const double* p = t.data<double>();
  return std::vector<double>(p, p + t.numel());
}

inline Tensor from_vector(const std::vector<double>& v, const Shape& s) {
  Tensor t = Tensor::zeros(s, DType::f64);
  std::copy(v.begin(), v.end(), t.data<double>());
  return t;
}

inline double dot(const Tensor& a, const std::vector<double>& b) {
  double s = 0;
  const double* p = a.data<double>();
  for (long i = 0; i < a.numel(); ++i) s += p[i] * b[size_t(i)];
  return s;
}

// forward: x -> y; backward: dy -> dx (undefined when the layer gives none).
struct Fns {
  std::function<Tensor(const Tensor&)> forward, backward, jvp;
  std::function<DualGrad(const Tensor&, const Tensor&)> backward_jvp;
  std::function<void(bool)> set_repeat_backward;
};

template <class L>
Fns fns(L& layer) {
  Fns f;
  f.forward = [&layer](const Tensor& x) { return layer.forward(x); };
  f.backward = [&layer](const Tensor& dy) { return layer.backward(dy); };
  if constexpr (requires { layer.jvp(Tensor()); }) {
    f.jvp = [&layer](const Tensor& t) { return layer.jvp(t); };
    f.backward_jvp = [&layer](const Tensor& dy, const Tensor& dt) {
      return layer.backward_jvp(dy, dt);
    };
    f.set_repeat_backward = [&layer](bool on) { layer.set_repeat_backward(on); };
  }
  return f;
}

// backward vs central differences of <r, f(x)> for the input and every parameter.
inline void check_backward(const Fns& f, ParamSet<double>& ps, Tensor& x, Rng& rng,
                           bool check_dx = true) {
  SerialScope serial;
  const Tensor y0 = f.forward(x);
  const std::vector<double> r = random_vector<double>(y0.numel(), rng);
  const Tensor dy = from_vector(r, y0.shape());
  ps.zero_grad();
  const Tensor dx = f.backward(dy);
  const std::vector<double> pg(ps.grads(), ps.grads() + ps.size());
  auto loss = [&] { return dot(f.forward(x), r); };
  if (check_dx) {
    ASSERT_TRUE(dx.defined());
    const std::vector<double> adx = to_vector(dx);
    EXPECT_LE(rel_error(adx, numeric_grad(loss, x.data<double>(), x.numel())), kFdTol) << "dx";
  }
  if (ps.size() > 0)
    EXPECT_LE(rel_error(pg, numeric_grad(loss, ps.values(), ps.size())), kFdTol) << "dtheta";
}

// jvp vs the directional central difference.
inline void check_jvp(const Fns& f, Tensor& x, const Tensor& t_x) {
  SerialScope serial;
  f.forward(x);
  const std::vector<double> ty = to_vector(f.jvp(t_x));
  const double e = 1e-6;
  Tensor xp = Tensor::zeros(x.shape(), DType::f64), xm = Tensor::zeros(x.shape(), DType::f64);
  for (long i = 0; i < x.numel(); ++i) {
    xp.data<double>()[i] = x.data<double>()[i] + e * t_x.data<double>()[i];
    xm.data<double>()[i] = x.data<double>()[i] - e * t_x.data<double>()[i];
  }
  const std::vector<double> yp = to_vector(f.forward(xp));
  const std::vector<double> ym = to_vector(f.forward(xm));
  std::vector<double> num(yp.size());
  for (size_t i = 0; i < yp.size(); ++i) num[i] = (yp[i] - ym[i]) / (2 * e);
  EXPECT_LE(rel_error(ty, num), kFdTol) << "jvp";
}

// backward_jvp vs central differences of <dy, f(x)> + <dt_y, J(x) t_x> in x, t_x and theta.
inline void check_backward_jvp(const Fns& f, ParamSet<double>& ps, Tensor& x, Tensor& t_x, Rng& rng,
                               bool check_dx = true) {
  SerialScope serial;
  const Tensor y0 = f.forward(x);
  const std::vector<double> ry = random_vector<double>(y0.numel(), rng);
  const std::vector<double> rt = random_vector<double>(y0.numel(), rng);
  f.jvp(t_x);
  ps.zero_grad();
  const DualGrad g = f.backward_jvp(from_vector(ry, y0.shape()), from_vector(rt, y0.shape()));
  const std::vector<double> pg(ps.grads(), ps.grads() + ps.size());
  auto loss = [&] {
    const double a = dot(f.forward(x), ry);
    return a + dot(f.jvp(t_x), rt);
  };
  if (check_dx) {
    ASSERT_TRUE(g.dx.defined() && g.dt_x.defined());
    const std::vector<double> dx = to_vector(g.dx), dtx = to_vector(g.dt_x);
    EXPECT_LE(rel_error(dx, numeric_grad(loss, x.data<double>(), x.numel())), kFdTol) << "dx";
    EXPECT_LE(rel_error(dtx, numeric_grad(loss, t_x.data<double>(), t_x.numel())), kFdTol)
        << "dt_x";
  }
  if (ps.size() > 0)
    EXPECT_LE(rel_error(pg, numeric_grad(loss, ps.values(), ps.size())), kFdTol) << "dtheta";
}

// backward_jvp's two shortcuts against its plain form (layers.h): an undefined dy gives what a
// zero dy gives (an undefined dx only where that dx is zero), and under set_repeat_backward,
// after backward(dt_y) on the same buffer, the same gradients (dt_x from that backward; a block
// whose two halves take different kernels may differ by rounding, hence a tolerance). Repeat
// refuses a dt_y that is not backward's buffer, and any dt_y after a forward.
inline void check_backward_jvp_shortcuts(const Fns& f, ParamSet<double>& ps, Tensor& x, Tensor& t_x,
                                         Rng& rng) {
  SerialScope serial;
  auto grads = [&ps] { return std::vector<double>(ps.grads(), ps.grads() + ps.size()); };
  auto near = [](const std::vector<double>& a, const std::vector<double>& b, const char* what) {
    ASSERT_EQ(a.size(), b.size()) << what;
    double worst = 0, scale = 1e-300;
    for (size_t i = 0; i < a.size(); ++i) {
      worst = std::max(worst, std::abs(a[i] - b[i]));
      scale = std::max(scale, std::abs(b[i]));
    }
    EXPECT_LE(worst, 1e-12 * scale) << what;
  };
  const Tensor y0 = f.forward(x);
  const Tensor dy = from_vector(random_vector<double>(y0.numel(), rng), y0.shape());
  const Tensor dt = from_vector(random_vector<double>(y0.numel(), rng), y0.shape());
  const Tensor zero = Tensor::zeros(y0.shape(), DType::f64);
  f.jvp(t_x);
  // The plain passes: with a zero dy, then with dy.
  ps.zero_grad();
  DualGrad g = f.backward_jvp(zero, dt);
  const std::vector<double> zero_dx = to_vector(g.dx), zero_dtx = to_vector(g.dt_x);
  const std::vector<double> zero_grads = grads();
  ps.zero_grad();
  g = f.backward_jvp(dy, dt);
  const std::vector<double> plain_dx = to_vector(g.dx), plain_dtx = to_vector(g.dt_x);
  const std::vector<double> plain_grads = grads();
  // An undefined dy.
  ps.zero_grad();
  g = f.backward_jvp(Tensor(), dt);
  EXPECT_EQ(grads(), zero_grads);
  EXPECT_EQ(to_vector(g.dt_x), zero_dtx);
  if (g.dx.defined()) {
    EXPECT_EQ(to_vector(g.dx), zero_dx);
  } else {
    for (double v : zero_dx) ASSERT_EQ(v, 0.0) << "dx left undefined but not zero";
  }
  // Repeat after backward(dt): with dy, then with an undefined dy.
  f.forward(x);
  f.backward(dt);
  f.jvp(t_x);
  f.set_repeat_backward(true);
  ps.zero_grad();
  g = f.backward_jvp(dy, dt);
  near(grads(), plain_grads, "repeat: parameter gradients");
  near(to_vector(g.dx), plain_dx, "repeat: dx");
  near(to_vector(g.dt_x), plain_dtx, "repeat: dt_x");
  ps.zero_grad();
  g = f.backward_jvp(Tensor(), dt);
  near(grads(), zero_grads, "repeat, no dy: parameter gradients");
  near(to_vector(g.dt_x), zero_dtx, "repeat, no dy: dt_x");
  // Another buffer with the same values, or no backward since the last forward: refused.
  const Tensor copy = from_vector(to_vector(dt), dt.shape());
  EXPECT_THROW(f.backward_jvp(dy, copy), Error);
  f.forward(x);
  f.jvp(t_x);
  EXPECT_THROW(f.backward_jvp(dy, dt), Error);
  f.set_repeat_backward(false);
}

}  // namespace relmimic::testing
