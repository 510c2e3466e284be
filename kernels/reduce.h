// Reductions and small vector ops used by losses, clipping and diagnostics.
#pragma once

#include "kernels/cuda_types.h"

namespace relmimic::kernels {

template <class T>
double sum_cpu(long n, const T* x);
template <class T>
double dot_cpu(long n, const T* x, const T* y);
template <class T>
double sum_squares_cpu(long n, const T* x);
template <class T>
double max_abs_cpu(long n, const T* x);
// y += a * x
template <class T>
void axpy_cpu(long n, T a, const T* x, T* y);
// x *= a
template <class T>
void scale_cpu(long n, T a, T* x);
// Row sums of x [M, N] into y [M] (overwrites).
template <class T>
void row_sum_cpu(int M, int N, const T* x, T* y);
// True when every element is finite.
template <class T>
bool all_finite_cpu(long n, const T* x);

// Device versions (queued on `stream`; same contracts). The reductions accumulate in double in
// a fixed order that depends on n only, and return to the host (they synchronize the stream).
template <class T>
double sum_cuda(long n, const T* x, Stream stream = nullptr);
template <class T>
double dot_cuda(long n, const T* x, const T* y, Stream stream = nullptr);
template <class T>
double sum_squares_cuda(long n, const T* x, Stream stream = nullptr);
template <class T>
double max_abs_cuda(long n, const T* x, Stream stream = nullptr);
template <class T>
void axpy_cuda(long n, T a, const T* x, T* y, Stream stream = nullptr);
template <class T>
void scale_cuda(long n, T a, T* x, Stream stream = nullptr);
template <class T>
void row_sum_cuda(int M, int N, const T* x, T* y, Stream stream = nullptr);
template <class T>
bool all_finite_cuda(long n, const T* x, Stream stream = nullptr);

}  // namespace relmimic::kernels
