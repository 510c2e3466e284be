// Internal helpers shared by the layer and network sources: input checks and batch views.
#pragma once

#include <string>
#include <string_view>

#include "engine/layers.h"
#include "engine/tensor.h"

namespace relmimic::detail {

// Checks that x is [B, ...] of dtype `dtype` on `device` with numel = B * per_sample and
// 1 <= B <= max_batch; returns B. Messages name the layer and what was expected.
inline int checked_batch(const Tensor& x, DType dtype, Device device, long per_sample,
                         int max_batch, std::string_view who, const char* what = "input") {
  RM_CHECK(x.defined(), who, ": ", what, " is undefined");
  RM_CHECK(x.dtype() == dtype, who, ": ", what, " has dtype ", dtype_name(x.dtype()), ", expected ",
           dtype_name(dtype));
  RM_CHECK(x.device() == device, who, ": ", what, " is on ", x.device().str(),
           " but this layer runs on ", device.str(), " (copy it there first)");
  RM_CHECK(x.ndim() >= 1 && x.dim(0) >= 1, who, ": ", what, " ", x.shape().str(),
           " has no batch dimension");
  const int64_t b = x.dim(0);
  RM_CHECK(b <= max_batch, who, ": batch ", b, " exceeds max_batch ", max_batch,
           " given at construction");
  RM_CHECK(x.numel() == b * per_sample, who, ": ", what, " ", x.shape().str(), " has ",
           x.numel() / b, " values per sample, expected ", per_sample);
  return int(b);
}

// Same, and the exact per-sample shape: x must be [B, dims...].
inline int checked_batch(const Tensor& x, DType dtype, Device device, const Shape& sample,
                         int max_batch, std::string_view who, const char* what = "input") {
  RM_CHECK(x.defined(), who, ": ", what, " is undefined");
  Shape full;
  full.push_back(x.ndim() >= 1 ? x.dim(0) : 0);
  for (int i = 0; i < sample.ndim(); ++i) full.push_back(sample[i]);
  if (!(x.shape() == full) || x.dim(0) < 1) {
    std::string want = "[B";
    for (int i = 0; i < sample.ndim(); ++i) want += ", " + std::to_string(sample[i]);
    RM_FAIL(who, ": ", what, " expected shape ", want, "] with 1 <= B <= ", max_batch, ", got ",
            x.shape().str());
  }
  return checked_batch(x, dtype, device, sample.numel(), max_batch, who, what);
}

// Checks t's shape, dtype and device; the message is only built on failure.
inline void expect(const Tensor& t, const Shape& shape, DType dtype, Device device,
                   std::string_view who, const char* what) {
  RM_CHECK(t.defined(), who, ": ", what, " is undefined");
  RM_CHECK(t.device() == device, who, ": ", what, " is on ", t.device().str(),
           " but this layer runs on ", device.str(), " (copy it there first)");
  RM_CHECK(t.shape() == shape, who, ": ", what, " expected shape ", shape.str(), ", got ",
           t.shape().str());
  RM_CHECK(t.dtype() == dtype, who, ": ", what, " has dtype ", dtype_name(t.dtype()), ", expected ",
           dtype_name(dtype));
}

// The first `batch` rows of an arena buffer [max_batch, ...], reshaped to `shape`.
inline Tensor rows(const Tensor& buf, int batch, const Shape& shape) {
  return buf.slice(0, batch).reshape(shape);
}

// The input-gradient half of a weight layer's backward_jvp: dt_x = W^T dt_y and dx = W^T dy
// through back(g, out). Under repeat (layers.h) dt_x is the last backward's dx, left in dx_buf,
// and dx goes to dt_x_buf; an undefined dy gives an undefined dx.
template <class T, class Back>
DualGrad dual_input_grads(const RepeatBackward& repeat, const std::string& who, int batch,
                          const Shape& in_shape, const Tensor& dy, const Tensor& dt_y,
                          Tensor& dx_buf, Tensor& dt_x_buf, Back back) {
  const auto [dx_out, dt_out] = repeat.targets(dt_y, who, dx_buf, dt_x_buf);
  if (!repeat.on()) back(dt_y.data<T>(), dt_out->template data<T>());
  DualGrad g{Tensor{}, rows(*dt_out, batch, in_shape)};
  if (dy.defined()) {
    back(dy.data<T>(), dx_out->template data<T>());
    g.dx = rows(*dx_out, batch, in_shape);
  }
  return g;
}

// A shape with the batch dimension replaced.
inline Shape with_batch(Shape s, int batch) {
  s[0] = batch;
  return s;
}

}  // namespace relmimic::detail
