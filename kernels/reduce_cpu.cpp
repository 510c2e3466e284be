// Reductions and vector ops on the CPU. Sums accumulate in double over a fixed split of [0, n)
// that depends on n only, then add the chunk results in order: the same bits for any thread
// count.
#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

#include "kernels/common.h"
#include "kernels/parallel_cpu.h"
#include "kernels/reduce.h"

namespace relmimic::kernels {

namespace {

constexpr int kMaxChunks = 64;    // chunk results kept on the stack
constexpr long kMinChunk = 4096;  // elements per chunk at least

// sum over i of f(i), i in [0, n), deterministic (see above).
template <class F>
double chunked_sum(long n, F f) {
  const long chunks = std::clamp((n + kMinChunk - 1) / kMinChunk, 1L, long(kMaxChunks));
  const long len = (n + chunks - 1) / chunks;
  std::array<double, kMaxChunks> part{};
#pragma omp parallel for schedule(static) if (cpu_threads(double(n)) > 1)
  for (long c = 0; c < chunks; ++c) {
    const long lo = c * len, hi = std::min(n, lo + len);
    double s = 0;
#pragma omp simd reduction(+ : s)
    for (long i = lo; i < hi; ++i) s += f(i);
    part[size_t(c)] = s;
  }
  double total = 0;
  for (long c = 0; c < chunks; ++c) total += part[size_t(c)];
  return total;
}

void check(long n, const void* x, const char* who) {
  RM_CHECK(n >= 0, who, ": negative size ", n);
  RM_CHECK(x || n == 0, who, ": null input");
}

}  // namespace

template <class T>
double sum_cpu(long n, const T* x) {
  check(n, x, "sum_cpu");
  return chunked_sum(n, [=](long i) { return double(x[i]); });
}

template <class T>
double dot_cpu(long n, const T* x, const T* y) {
  check(n, x, "dot_cpu");
  check(n, y, "dot_cpu");
  return chunked_sum(n, [=](long i) { return double(x[i]) * double(y[i]); });
}

template <class T>
double sum_squares_cpu(long n, const T* x) {
  check(n, x, "sum_squares_cpu");
  return chunked_sum(n, [=](long i) { return double(x[i]) * double(x[i]); });
}

// max |x_i|; NaN when any element is NaN (a NaN gradient must not hide behind a max).
template <class T>
double max_abs_cpu(long n, const T* x) {
  check(n, x, "max_abs_cpu");
  double m = 0;
  bool nan = false;
#pragma omp parallel for reduction(max : m) reduction(|| : nan) if (cpu_threads(double(n)) > 1)
  for (long i = 0; i < n; ++i) {
    const double a = std::abs(double(x[i]));
    nan = nan || std::isnan(a);
    m = a > m ? a : m;
  }
  return nan ? std::numeric_limits<double>::quiet_NaN() : m;
}

template <class T>
void axpy_cpu(long n, T a, const T* x, T* y) {
  check(n, x, "axpy_cpu");
  check(n, y, "axpy_cpu");
#pragma omp parallel for simd schedule(static) if (cpu_threads(double(n)) > 1)
  for (long i = 0; i < n; ++i) y[i] += a * x[i];
}

template <class T>
void scale_cpu(long n, T a, T* x) {
  check(n, x, "scale_cpu");
#pragma omp parallel for simd schedule(static) if (cpu_threads(double(n)) > 1)
  for (long i = 0; i < n; ++i) x[i] *= a;
}

template <class T>
void row_sum_cpu(int M, int N, const T* x, T* y) {
  RM_CHECK(M >= 0 && N >= 0, "row_sum_cpu: negative size M=", M, " N=", N);
  RM_CHECK((x || long(M) * N == 0) && (y || M == 0), "row_sum_cpu: null x or y");
#pragma omp parallel for schedule(static) if (cpu_threads(double(M) * N) > 1)
  for (int m = 0; m < M; ++m) {
    const T* row = x + long(m) * N;
    double s = 0;
#pragma omp simd reduction(+ : s)
    for (int i = 0; i < N; ++i) s += double(row[i]);
    y[m] = T(s);
  }
}

template <class T>
bool all_finite_cpu(long n, const T* x) {
  check(n, x, "all_finite_cpu");
  bool ok = true;
#pragma omp parallel for reduction(&& : ok) if (cpu_threads(double(n)) > 1)
  for (long i = 0; i < n; ++i) ok = ok && std::isfinite(x[i]);
  return ok;
}

#define RM_INSTANTIATE(T)                               \
  template double sum_cpu<T>(long, const T*);           \
  template double dot_cpu<T>(long, const T*, const T*); \
  template double sum_squares_cpu<T>(long, const T*);   \
  template double max_abs_cpu<T>(long, const T*);       \
  template void axpy_cpu<T>(long, T, const T*, T*);     \
  template void scale_cpu<T>(long, T, T*);              \
  template void row_sum_cpu<T>(int, int, const T*, T*); \
  template bool all_finite_cpu<T>(long, const T*);
RM_INSTANTIATE(float)
RM_INSTANTIATE(double)
#undef RM_INSTANTIATE

}  // namespace relmimic::kernels
