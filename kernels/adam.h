// Adam over a flat parameter buffer (one call for a whole network).
#pragma once

#include "kernels/cuda_types.h"

namespace relmimic::kernels {

struct AdamParams {
  double lr = 3e-4, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0.0;
  long step = 1;  // 1-based step used for bias correction
};

// m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2; p -= lr * mhat / (sqrt(vhat) + eps) (+ decoupled wd).
template <class T>
void adam_step_cpu(long n, T* param, const T* grad, T* m, T* v, const AdamParams& p);

}  // namespace relmimic::kernels

namespace relmimic::kernels {
// The same update on device memory (one launch over the flat buffer), queued on `stream`.
template <class T>
void adam_step_cuda(long n, T* param, const T* grad, T* m, T* v, const AdamParams& p,
                    Stream stream = nullptr);
}  // namespace relmimic::kernels
