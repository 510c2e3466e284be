// Adam (with AdamW's decoupled weight decay) over a flat parameter buffer on the CPU:
//   m = b1 m + (1 - b1) g,  v = b2 v + (1 - b2) g^2
//   p = p (1 - lr wd) - lr * mhat / (sqrt(vhat) + eps),  mhat = m / (1 - b1^t), vhat = v / (1 -
//   b2^t)
#include <cmath>

#include "kernels/adam.h"
#include "kernels/common.h"
#include "kernels/parallel_cpu.h"

namespace relmimic::kernels {

template <class T>
void adam_step_cpu(long n, T* param, const T* grad, T* m, T* v, const AdamParams& p) {
  RM_CHECK(n >= 0, "adam_step_cpu: negative size ", n);
  RM_CHECK(param && grad && m && v, "adam_step_cpu: null param, grad, m or v");
  RM_CHECK(p.step >= 1, "adam_step_cpu: step must be >= 1 (1-based), got ", p.step);
  RM_CHECK(p.beta1 >= 0 && p.beta1 < 1 && p.beta2 >= 0 && p.beta2 < 1,
           "adam_step_cpu: betas must be in [0, 1), got ", p.beta1, ", ", p.beta2);
  RM_CHECK(p.lr >= 0 && p.eps > 0 && p.weight_decay >= 0, "adam_step_cpu: bad lr ", p.lr, ", eps ",
           p.eps, " or weight decay ", p.weight_decay);
  // Scalars in double; the bias corrections fold into the step size and eps:
  //   lr mhat / (sqrt(vhat) + eps) = (lr / bc1) m / (sqrt(v) / sqrt(bc2) + eps).
  const double bc1 = 1.0 - std::pow(p.beta1, double(p.step));
  const double bc2 = 1.0 - std::pow(p.beta2, double(p.step));
  const T b1 = T(p.beta1), b2 = T(p.beta2), a1 = T(1.0 - p.beta1), a2 = T(1.0 - p.beta2);
  const T step = T(p.lr / bc1), inv_sqrt_bc2 = T(1.0 / std::sqrt(bc2)), eps = T(p.eps);
  const T decay = T(1.0 - p.lr * p.weight_decay);
#pragma omp parallel for simd schedule(static) if (cpu_threads(10.0 * double(n)) > 1)
  for (long i = 0; i < n; ++i) {
    const T g = grad[i];
    const T mi = b1 * m[i] + a1 * g;
    const T vi = b2 * v[i] + a2 * g * g;
    m[i] = mi;
    v[i] = vi;
    param[i] = param[i] * decay - step * mi / (std::sqrt(vi) * inv_sqrt_bc2 + eps);
  }
}

template void adam_step_cpu<float>(long, float*, const float*, float*, float*, const AdamParams&);
template void adam_step_cpu<double>(long, double*, const double*, double*, double*,
                                    const AdamParams&);

}  // namespace relmimic::kernels
