// Attention core (CPU): forward against naive loops, every derivative pass against central
// finite differences in double, float against double, and saturated softmax rows.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "engine/rng.h"
#include "kernels/attention.h"
#include "kernels/common.h"
#include "kernels/fast_exp.h"
#include "tests/grad_check.h"

namespace relmimic {
namespace {

using kernels::AttentionDims;
using testing::numeric_grad;
using testing::random_vector;
using testing::rel_error;

// theta, phi, g [B, C', N] -> y [B, C', N], attn [B, N, N] by the definition, one element at a
// time.
void naive_forward(const AttentionDims& d, const double* theta, const double* phi, const double* g,
                   double* y, double* attn) {
  const int c = d.channels, n = d.positions;
  for (int b = 0; b < d.batch; ++b) {
    const long o = b * d.qkv_size();
    double* a = attn + b * d.attn_size();
    for (int i = 0; i < n; ++i) {
      std::vector<double> s(n);
      double m = -INFINITY;
      for (int j = 0; j < n; ++j) {
        for (int k = 0; k < c; ++k) s[j] += theta[o + k * n + i] * phi[o + k * n + j];
        m = std::max(m, s[j]);
      }
      double z = 0;
      for (int j = 0; j < n; ++j) z += std::exp(s[j] - m);
      for (int j = 0; j < n; ++j) a[i * n + j] = std::exp(s[j] - m) / z;
      for (int k = 0; k < c; ++k) {
        double acc = 0;
        for (int j = 0; j < n; ++j) acc += a[i * n + j] * g[o + k * n + j];
        y[o + k * n + i] = acc;
      }
    }
  }
}

double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

// Inputs, tangents and output weights of one random problem.
template <class T>
struct Problem {
  AttentionDims d;
  std::vector<T> theta, phi, g, t_theta, t_phi, t_g, w1, w2;

  Problem(int batch, int channels, int positions, uint64_t seed, double scale = 1.0) {
    d = {batch, channels, positions};
    Rng rng(seed);
    const long q = d.batch * d.qkv_size();
    for (auto* v : {&theta, &phi}) *v = random_vector<T>(q, rng, -scale, scale);
    for (auto* v : {&g, &t_theta, &t_phi, &t_g, &w1, &w2}) *v = random_vector<T>(q, rng);
  }
  template <class U>
  explicit Problem(const Problem<U>& o) : d(o.d) {
    auto cast = [](const std::vector<U>& v) { return std::vector<T>(v.begin(), v.end()); };
    theta = cast(o.theta), phi = cast(o.phi), g = cast(o.g), t_theta = cast(o.t_theta);
    t_phi = cast(o.t_phi), t_g = cast(o.t_g), w1 = cast(o.w1), w2 = cast(o.w2);
  }
  long q() const { return d.batch * d.qkv_size(); }
  long nn() const { return d.batch * d.attn_size(); }
};

// Every output of the four passes for one problem.
template <class T>
struct Outputs {
  std::vector<T> y, attn, t_y, s_dot;
  std::vector<T> dtheta, dphi, dg;                                // backward(w1)
  std::vector<T> g2theta, g2phi, g2g, g2t_theta, g2t_phi, g2t_g;  // backward_jvp(w1, w2)
};

template <class T>
Outputs<T> run_all(const Problem<T>& p) {
  Outputs<T> r;
  const long q = p.q(), nn = p.nn();
  r.y.resize(q), r.attn.resize(nn), r.t_y.resize(q), r.s_dot.resize(nn);
  for (auto* v : {&r.dtheta, &r.dphi, &r.dg, &r.g2theta, &r.g2phi, &r.g2g, &r.g2t_theta, &r.g2t_phi,
                  &r.g2t_g})
    v->assign(q, T(7));  // stale values: every pass must overwrite
  kernels::attention_forward_cpu(p.d, p.theta.data(), p.phi.data(), p.g.data(), r.y.data(),
                                 r.attn.data());
  kernels::attention_backward_cpu(p.d, p.theta.data(), p.phi.data(), p.g.data(), r.attn.data(),
                                  p.w1.data(), r.dtheta.data(), r.dphi.data(), r.dg.data());
  kernels::attention_jvp_cpu(p.d, p.theta.data(), p.phi.data(), p.g.data(), r.attn.data(),
                             p.t_theta.data(), p.t_phi.data(), p.t_g.data(), r.t_y.data(),
                             r.s_dot.data());
  kernels::attention_backward_jvp_cpu(
      p.d, p.theta.data(), p.phi.data(), p.g.data(), r.attn.data(), p.t_theta.data(),
      p.t_phi.data(), p.t_g.data(), r.s_dot.data(), p.w1.data(), p.w2.data(), r.g2theta.data(),
      r.g2phi.data(), r.g2g.data(), r.g2t_theta.data(), r.g2t_phi.data(), r.g2t_g.data());
  return r;
}

std::vector<double> forward_y(const Problem<double>& p) {
  std::vector<double> y(p.q()), attn(p.nn());
  kernels::attention_forward_cpu(p.d, p.theta.data(), p.phi.data(), p.g.data(), y.data(),
                                 attn.data());
  return y;
}

std::vector<double> jvp_ty(const Problem<double>& p) {
  std::vector<double> y(p.q()), attn(p.nn()), t_y(p.q()), s_dot(p.nn());
  kernels::attention_forward_cpu(p.d, p.theta.data(), p.phi.data(), p.g.data(), y.data(),
                                 attn.data());
  kernels::attention_jvp_cpu(p.d, p.theta.data(), p.phi.data(), p.g.data(), attn.data(),
                             p.t_theta.data(), p.t_phi.data(), p.t_g.data(), t_y.data(),
                             s_dot.data());
  return t_y;
}

TEST(AttentionCpu, ForwardMatchesNaiveLoops) {
  for (auto [b, c, n] :
       {std::tuple{2, 3, 5}, std::tuple{2, 3, 7}, std::tuple{1, 1, 1}, std::tuple{2, 2, 441}}) {
    Problem<double> p(b, c, n, 11 + n);
    const Outputs<double> r = run_all(p);
    std::vector<double> y(p.q()), attn(p.nn());
    naive_forward(p.d, p.theta.data(), p.phi.data(), p.g.data(), y.data(), attn.data());
    EXPECT_LT(rel_error(r.y, y), 1e-12) << "N=" << n;
    EXPECT_LT(rel_error(r.attn, attn), 1e-12) << "N=" << n;
  }
}

TEST(AttentionCpu, RowsAreProbabilities) {
  Problem<double> p(2, 8, 21, 5, 2.0);
  const Outputs<double> r = run_all(p);
  for (int row = 0; row < p.d.batch * p.d.positions; ++row) {
    double sum = 0;
    for (int j = 0; j < p.d.positions; ++j) {
      const double a = r.attn[long(row) * p.d.positions + j];
      EXPECT_GE(a, 0.0);
      sum += a;
    }
    EXPECT_NEAR(sum, 1.0, 1e-12) << "row " << row;
  }
}

// backward's gradients (r.dtheta, r.dphi, r.dg) against finite differences of <w1, y>.
void expect_backward_matches_fd(Problem<double>& p, const Outputs<double>& r) {
  auto loss = [&] { return dot(p.w1, forward_y(p)); };
  EXPECT_LT(rel_error(r.dtheta, numeric_grad(loss, p.theta.data(), p.q())), 1e-6);
  EXPECT_LT(rel_error(r.dphi, numeric_grad(loss, p.phi.data(), p.q())), 1e-6);
  EXPECT_LT(rel_error(r.dg, numeric_grad(loss, p.g.data(), p.q())), 1e-6);
}

// backward_jvp's gradients of all six inputs against finite differences of
// L = <w1, y> + <w2, t_y>.
void expect_backward_jvp_matches_fd(Problem<double>& p, const Outputs<double>& r) {
  auto loss = [&] { return dot(p.w1, forward_y(p)) + dot(p.w2, jvp_ty(p)); };
  const long q = p.q();
  EXPECT_LT(rel_error(r.g2theta, numeric_grad(loss, p.theta.data(), q)), 1e-6);
  EXPECT_LT(rel_error(r.g2phi, numeric_grad(loss, p.phi.data(), q)), 1e-6);
  EXPECT_LT(rel_error(r.g2g, numeric_grad(loss, p.g.data(), q)), 1e-6);
  EXPECT_LT(rel_error(r.g2t_theta, numeric_grad(loss, p.t_theta.data(), q)), 1e-6);
  EXPECT_LT(rel_error(r.g2t_phi, numeric_grad(loss, p.t_phi.data(), q)), 1e-6);
  EXPECT_LT(rel_error(r.g2t_g, numeric_grad(loss, p.t_g.data(), q)), 1e-6);
}

TEST(AttentionCpu, BackwardMatchesFiniteDifferences) {
  Problem<double> p(2, 3, 6, 21);
  expect_backward_matches_fd(p, run_all(p));
}

TEST(AttentionCpu, JvpMatchesDirectionalDerivative) {
  Problem<double> p(2, 3, 7, 31);
  const Outputs<double> r = run_all(p);
  const double eps = 1e-6;
  auto shifted = [&](double s) {
    Problem<double> q = p;
    for (long i = 0; i < p.q(); ++i) {
      q.theta[i] += s * p.t_theta[i];
      q.phi[i] += s * p.t_phi[i];
      q.g[i] += s * p.t_g[i];
    }
    return forward_y(q);
  };
  const std::vector<double> yp = shifted(eps), ym = shifted(-eps);
  std::vector<double> fd(p.q());
  for (long i = 0; i < p.q(); ++i) fd[i] = (yp[i] - ym[i]) / (2 * eps);
  EXPECT_LT(rel_error(r.t_y, fd), 1e-6);

  // s_dot = t_theta^T phi + theta^T t_phi, element by element.
  const int c = p.d.channels, n = p.d.positions;
  std::vector<double> sd(p.nn());
  for (int b = 0; b < p.d.batch; ++b)
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < n; ++j)
        for (int k = 0; k < c; ++k) {
          const long o = b * p.d.qkv_size() + k * n;
          sd[b * p.d.attn_size() + i * n + j] +=
              p.t_theta[o + i] * p.phi[o + j] + p.theta[o + i] * p.t_phi[o + j];
        }
  EXPECT_LT(rel_error(r.s_dot, sd), 1e-12);
}

TEST(AttentionCpu, BackwardJvpMatchesFiniteDifferences) {
  Problem<double> p(2, 3, 5, 41);
  expect_backward_jvp_matches_fd(p, run_all(p));
}

TEST(AttentionCpu, BackwardJvpWithoutTangentGradIsBackward) {
  // With dt_y = 0 only y carries gradient: the primal gradients equal backward's and the
  // tangents' gradients vanish.
  Problem<double> p(2, 4, 9, 51);
  std::fill(p.w2.begin(), p.w2.end(), 0.0);
  const Outputs<double> r = run_all(p);
  EXPECT_LT(rel_error(r.g2theta, r.dtheta), 1e-13);
  EXPECT_LT(rel_error(r.g2phi, r.dphi), 1e-13);
  EXPECT_LT(rel_error(r.g2g, r.dg), 1e-13);
  const std::vector<double> zero(p.q(), 0.0);
  EXPECT_EQ(r.g2t_theta, zero);
  EXPECT_EQ(r.g2t_phi, zero);
  EXPECT_EQ(r.g2t_g, zero);
}

// Holds the attention's row-scores threshold (kernels/attention.h) at n for a scope.
class RowScoresFrom {
 public:
  explicit RowScoresFrom(int n)
      : saved_(kernels::detail::set_attention_row_scores_min_positions(n)) {}
  ~RowScoresFrom() { kernels::detail::set_attention_row_scores_min_positions(saved_); }
  RowScoresFrom(const RowScoresFrom&) = delete;
  RowScoresFrom& operator=(const RowScoresFrom&) = delete;

 private:
  int saved_;
};

// The two ways of making the N x N products of rank C' (one GEMM below the threshold, four rows
// at a time from it) give the same four passes in double: on the nets' shapes, with rows left
// over after the blocks of four, and with C' = 17 (two coefficient blocks).
TEST(AttentionCpu, RowScoresMatchTheGemm) {
  for (auto [b, c, n] : {std::tuple{2, 3, 7}, std::tuple{2, 8, 441}, std::tuple{2, 2, 441},
                         std::tuple{1, 17, 30}, std::tuple{2, 16, 100}}) {
    Problem<double> p(b, c, n, 71 + n);
    Outputs<double> gemm, rows;
    {
      RowScoresFrom never(1 << 30);
      gemm = run_all(p);
    }
    {
      RowScoresFrom always(1);
      rows = run_all(p);
    }
    const auto fields = {
        &Outputs<double>::y,     &Outputs<double>::attn,      &Outputs<double>::t_y,
        &Outputs<double>::s_dot, &Outputs<double>::dtheta,    &Outputs<double>::dphi,
        &Outputs<double>::dg,    &Outputs<double>::g2theta,   &Outputs<double>::g2phi,
        &Outputs<double>::g2g,   &Outputs<double>::g2t_theta, &Outputs<double>::g2t_phi,
        &Outputs<double>::g2t_g};
    int f = 0;
    for (auto field : fields)
      EXPECT_LT(rel_error(rows.*field, gemm.*field), 1e-12) << c << "x" << n << " field " << f++;
  }
}

// The finite-difference checks of backward and backward_jvp on the row version.
TEST(AttentionCpu, RowScoresMatchFiniteDifferences) {
  RowScoresFrom always(1);
  Problem<double> p(2, 3, 6, 81);
  const Outputs<double> r = run_all(p);
  expect_backward_matches_fd(p, r);
  expect_backward_jvp_matches_fd(p, r);
}

TEST(AttentionCpu, FloatAgreesWithDouble) {
  // The relational-block shapes of the nets (batch cut to 2).
  for (auto [c, n] : {std::pair{2, 441}, std::pair{8, 441}, std::pair{16, 100}}) {
    Problem<double> pd(2, c, n, 61 + c);
    Problem<float> pf(pd);
    const Outputs<double> rd = run_all(pd);
    const Outputs<float> rf = run_all(pf);
    const double tol = 1e-4;
    EXPECT_LT(rel_error(rf.y, rd.y), tol) << c << "x" << n;
    EXPECT_LT(rel_error(rf.attn, rd.attn), tol) << c << "x" << n;
    EXPECT_LT(rel_error(rf.t_y, rd.t_y), tol) << c << "x" << n;
    EXPECT_LT(rel_error(rf.s_dot, rd.s_dot), tol) << c << "x" << n;
    EXPECT_LT(rel_error(rf.dtheta, rd.dtheta), tol) << c << "x" << n;
    EXPECT_LT(rel_error(rf.dphi, rd.dphi), tol) << c << "x" << n;
    EXPECT_LT(rel_error(rf.dg, rd.dg), tol) << c << "x" << n;
    EXPECT_LT(rel_error(rf.g2theta, rd.g2theta), tol) << c << "x" << n;
    EXPECT_LT(rel_error(rf.g2phi, rd.g2phi), tol) << c << "x" << n;
    EXPECT_LT(rel_error(rf.g2g, rd.g2g), tol) << c << "x" << n;
    EXPECT_LT(rel_error(rf.g2t_theta, rd.g2t_theta), tol) << c << "x" << n;
    EXPECT_LT(rel_error(rf.g2t_phi, rd.g2t_phi), tol) << c << "x" << n;
    EXPECT_LT(rel_error(rf.g2t_g, rd.g2t_g), tol) << c << "x" << n;
  }
}

template <class T>
void expect_finite(const std::vector<T>& v, const char* what) {
  for (size_t i = 0; i < v.size(); ++i)
    ASSERT_TRUE(std::isfinite(double(v[i]))) << what << "[" << i << "] = " << v[i];
}

template <class T>
void check_large_logits() {
  // |theta|, |phi| <= 18 with C' = 4 gives |S| up to ~1300: exp(S) overflows in both precisions
  // unless the row max is subtracted.
  Problem<double> pd(2, 4, 30, 71, 18.0);
  Problem<T> p(pd);
  const Outputs<T> r = run_all(p);
  double max_abs_s = 0;
  for (int i = 0; i < 30; ++i)
    for (int j = 0; j < 30; ++j) {
      double s = 0;
      for (int k = 0; k < 4; ++k) s += pd.theta[k * 30 + i] * pd.phi[k * 30 + j];
      max_abs_s = std::max(max_abs_s, std::abs(s));
    }
  ASSERT_GT(max_abs_s, 500.0);
  for (const auto* v : {&r.y, &r.attn, &r.t_y, &r.s_dot, &r.dtheta, &r.dphi, &r.dg, &r.g2theta,
                        &r.g2phi, &r.g2g, &r.g2t_theta, &r.g2t_phi, &r.g2t_g})
    expect_finite(*v, "output");
  for (int row = 0; row < 2 * 30; ++row) {
    double sum = 0;
    for (int j = 0; j < 30; ++j) sum += double(r.attn[row * 30 + j]);
    EXPECT_NEAR(sum, 1.0, 1e-5) << "row " << row;
  }
  // Saturated rows are one-hot: the naive double reference agrees.
  std::vector<double> y(pd.q()), attn(pd.nn());
  naive_forward(pd.d, pd.theta.data(), pd.phi.data(), pd.g.data(), y.data(), attn.data());
  const double tol = sizeof(T) == sizeof(double) ? 1e-10 : 1e-3;
  EXPECT_LT(rel_error(r.attn, attn), tol);
  EXPECT_LT(rel_error(r.y, y), tol);
}

TEST(AttentionCpu, LargeLogitsStayFiniteDouble) {
  check_large_logits<double>();
}
TEST(AttentionCpu, LargeLogitsStayFiniteFloat) {
  check_large_logits<float>();
}

// The softmax's vectorised float exp against libm in double over its whole input range (x <= 0),
// including the multiples of ln2, the points halfway between them and the clamp below -87.
TEST(AttentionCpu, FastExpIsWithinTwoAndAHalfUlpOfExp) {
  double worst = 0;
  float worst_x = 0;
  auto check = [&](float x) {
    const double want = std::exp(double(std::max(x, -87.0f)));
    const double err = std::abs(double(kernels::exp_nonpositive(x)) - want) / want;
    if (err > worst) worst = err, worst_x = x;
  };
  for (int i = 0; i <= 2000000; ++i) check(-88.0f * float(i) / 2000000.0f);
  for (int n = 0; n <= 125; ++n) {
    const float x = -float(n) * 0.69314718f;
    check(x);
    check(std::nextafter(x, 0.0f));
    check(x - 0.34657359f);
  }
  check(0.0f);
  check(-0.0f);
  check(-1e-30f);
  EXPECT_LT(worst, 2.5e-7) << "at x = " << worst_x;
  EXPECT_EQ(kernels::exp_nonpositive(0.0f), 1.0f);
  EXPECT_GT(kernels::exp_nonpositive(-1000.0f), 0.0f);
}

// A sample's attention does not depend on where its rows sit in memory (its place in the batch):
// the vectorised loops peel to align, and every sum runs in an order fixed by N alone.
TEST(AttentionCpu, SampleResultsDoNotDependOnAlignment) {
  for (auto [c, n] : {std::pair{2, 37}, std::pair{8, 100}}) {
    Problem<float> p(1, c, n, 91 + c);
    const Outputs<float> ref = run_all(p);
    for (int off = 1; off < 16; off += 5) {
      // The same problem at an offset of `off` floats from the start of every buffer.
      auto shifted = [&](const std::vector<float>& v) {
        std::vector<float> w(v.size() + off, 0.0f);
        std::copy(v.begin(), v.end(), w.begin() + off);
        return w;
      };
      const std::vector<float> th = shifted(p.theta), ph = shifted(p.phi), g = shifted(p.g),
                               dy = shifted(p.w1);
      std::vector<float> y(p.q() + off), attn(p.nn() + off), dth(p.q() + off), dph(p.q() + off),
          dg(p.q() + off);
      kernels::attention_forward_cpu(p.d, th.data() + off, ph.data() + off, g.data() + off,
                                     y.data() + off, attn.data() + off);
      kernels::attention_backward_cpu(p.d, th.data() + off, ph.data() + off, g.data() + off,
                                      attn.data() + off, dy.data() + off, dth.data() + off,
                                      dph.data() + off, dg.data() + off);
      EXPECT_TRUE(std::equal(ref.y.begin(), ref.y.end(), y.begin() + off)) << off;
      EXPECT_TRUE(std::equal(ref.attn.begin(), ref.attn.end(), attn.begin() + off)) << off;
      EXPECT_TRUE(std::equal(ref.dtheta.begin(), ref.dtheta.end(), dth.begin() + off)) << off;
      EXPECT_TRUE(std::equal(ref.dg.begin(), ref.dg.end(), dg.begin() + off)) << off;
    }
  }
}

TEST(AttentionCpu, RejectsBadArguments) {
  std::vector<double> buf(64);
  double* p = buf.data();
  EXPECT_THROW(kernels::attention_forward_cpu<double>({0, 2, 3}, p, p, p, p, p), Error);
  EXPECT_THROW(kernels::attention_forward_cpu<double>({1, 2, -3}, p, p, p, p, p), Error);
  EXPECT_THROW(kernels::attention_forward_cpu<double>({1, 2, 3}, p, nullptr, p, p, p), Error);
  EXPECT_THROW(kernels::attention_backward_cpu<double>({1, 0, 3}, p, p, p, p, p, p, p, p), Error);
  EXPECT_THROW(kernels::attention_jvp_cpu<double>({1, 2, 3}, p, p, p, p, p, p, p, p, nullptr),
               Error);
  EXPECT_THROW(kernels::attention_backward_jvp_cpu<double>({1, 2, 3}, p, p, p, p, p, p, p, p, p, p,
                                                           p, p, p, p, p, nullptr),
               Error);
}

}  // namespace
}  // namespace relmimic
