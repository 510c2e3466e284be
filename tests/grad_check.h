// Test helpers: random fills, central finite differences and the relative error measure that
// every gradient test in the project uses.
#pragma once

#include <algorithm>
#include <cmath>
#include <functional>
#include <vector>

#include "engine/rng.h"

namespace relmimic::testing {

template <class T>
void fill_uniform(T* x, long n, Rng& rng, double lo = -1.0, double hi = 1.0) {
  for (long i = 0; i < n; ++i) x[i] = T(rng.uniform(lo, hi));
}

template <class T>
std::vector<T> random_vector(long n, Rng& rng, double lo = -1.0, double hi = 1.0) {
  std::vector<T> v(static_cast<size_t>(n));
  fill_uniform(v.data(), n, rng, lo, hi);
  return v;
}

// d loss / d x[i] for every i by central differences; loss() reads x.
inline std::vector<double> numeric_grad(const std::function<double()>& loss, double* x, long n,
                                        double eps = 1e-6) {
  std::vector<double> g(static_cast<size_t>(n));
  for (long i = 0; i < n; ++i) {
    const double old = x[i];
    x[i] = old + eps;
    const double lp = loss();
    x[i] = old - eps;
    const double lm = loss();
    x[i] = old;
    g[size_t(i)] = (lp - lm) / (2 * eps);
  }
  return g;
}

// max_i |a_i - b_i| / max(max_i |a_i|, max_i |b_i|, tiny): scale-free, 0 when equal.
template <class A, class B>
double rel_error(const A* a, const B* b, long n) {
  double diff = 0, scale = 1e-30;
  for (long i = 0; i < n; ++i) {
    diff = std::max(diff, std::abs(double(a[i]) - double(b[i])));
    scale = std::max({scale, std::abs(double(a[i])), std::abs(double(b[i]))});
  }
  return diff / scale;
}

template <class A, class B>
double rel_error(const std::vector<A>& a, const std::vector<B>& b) {
  return a.size() == b.size() ? rel_error(a.data(), b.data(), long(a.size())) : INFINITY;
}

}  // namespace relmimic::testing
