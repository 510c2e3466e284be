// Spectral normalisation (Miyato et al. 2018) of a weight viewed as a matrix W [rows, cols]
// (row-major, rows = output channels): one power iteration, W_sn = W / sigma, and the gradient
// through it with u and v held constant. Sums accumulate in double.
//
//   v = W^T u / max(|W^T u|, eps)
//   training:    u <- W v / max(|W v|, eps),  sigma = |W v|
//   evaluation:  u unchanged,                 sigma = |W^T u|  (= u^T W v for the new v)
//   backward:    dW += (G - <G, W_sn> u v^T) / sigma,  G = dL/dW_sn
// eps = 1e-12 (PyTorch's F.normalize floor: a zero vector stays zero instead of becoming NaN).
#pragma once

#include "kernels/cuda_types.h"

namespace relmimic::kernels {

constexpr double kSpectralNormEps = 1e-12;

// Updates u [rows] (training only) and writes v [cols]; acc [cols] is double scratch. Returns
// sigma.
template <class T>
double spectral_norm_power_iteration_cpu(int rows, int cols, const T* w, T* u, T* v, bool training,
                                         double* acc);

// w_sn [n] = w / sigma.
template <class T>
void spectral_norm_apply_cpu(long n, const T* w, double sigma, T* w_sn);

// dw [rows, cols] += (dw_sn - <dw_sn, w_sn> u v^T) / sigma.
template <class T>
void spectral_norm_backward_cpu(int rows, int cols, const T* dw_sn, const T* w_sn, const T* u,
                                const T* v, double sigma, T* dw);

// Device versions (queued on `stream`). sigma lives in device memory (one double) so that a layer's
// normalisation never waits for the host: the power iteration writes it, apply and backward read
// it. The iteration runs in one block (the weights are at most a few hundred thousand elements).
template <class T>
void spectral_norm_power_iteration_cuda(int rows, int cols, const T* w, T* u, T* v, bool training,
                                        double* sigma, Stream stream = nullptr);
template <class T>
void spectral_norm_apply_cuda(long n, const T* w, const double* sigma, T* w_sn,
                              Stream stream = nullptr);
template <class T>
void spectral_norm_backward_cuda(int rows, int cols, const T* dw_sn, const T* w_sn, const T* u,
                                 const T* v, const double* sigma, T* dw, Stream stream = nullptr);

}  // namespace relmimic::kernels
