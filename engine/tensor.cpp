#include "engine/tensor.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "kernels/device.h"

namespace relmimic {

size_t dtype_size(DType t) {
  switch (t) {
    case DType::f32:
      return 4;
    case DType::f64:
      return 8;
    case DType::u8:
      return 1;
    case DType::i32:
      return 4;
  }
  return 0;
}

const char* dtype_name(DType t) {
  switch (t) {
    case DType::f32:
      return "float32";
    case DType::f64:
      return "float64";
    case DType::u8:
      return "uint8";
    case DType::i32:
      return "int32";
  }
  return "?";
}

std::string Device::str() const {
  if (is_cpu()) return "cpu";
  return "cuda:" + std::to_string(index);
}

Device Device::parse(const std::string& s) {
  if (s == "cpu") return cpu();
  if (s == "cuda" || s == "gpu") return cuda(0);
  if (s.rfind("cuda:", 0) == 0) {
    char* end = nullptr;
    long i = std::strtol(s.c_str() + 5, &end, 10);
    if (end && *end == 0 && end != s.c_str() + 5 && i >= 0) return cuda(int(i));
  }
  RM_FAIL("unknown device '", s, "' (expected cpu, cuda or cuda:N)");
}

Shape::Shape(std::initializer_list<int64_t> dims) {
  RM_CHECK(dims.size() <= size_t(kMaxDims), "a shape has at most ", kMaxDims, " dimensions");
  for (int64_t v : dims) push_back(v);
}

void Shape::push_back(int64_t v) {
  RM_CHECK(n_ < kMaxDims, "a shape has at most ", kMaxDims, " dimensions");
  RM_CHECK(v >= 0, "negative dimension ", v);
  d_[n_++] = v;
}

int64_t Shape::numel() const {
  int64_t n = 1;
  for (int i = 0; i < n_; ++i) n *= d_[i];
  return n;
}

bool Shape::operator==(const Shape& o) const {
  if (n_ != o.n_) return false;
  for (int i = 0; i < n_; ++i)
    if (d_[i] != o.d_[i]) return false;
  return true;
}

std::string Shape::str() const {
  std::ostringstream os;
  os << "[";
  for (int i = 0; i < n_; ++i) os << (i ? ", " : "") << d_[i];
  os << "]";
  return os.str();
}

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) {
  Tensor t;
  t.shape_ = shape;
  t.dtype_ = dtype;
  t.device_ = device;
  size_t bytes = size_t(shape.numel()) * dtype_size(dtype);
  size_t aligned = std::max<size_t>((bytes + 63) / 64 * 64, 64);
  void* p = nullptr;
  if (device.is_cuda()) {
    RM_CHECK(device.index < kernels::cuda_device_count(), "no CUDA device ", device.index,
             " (this machine has ", kernels::cuda_device_count(), ")");
    p = kernels::cuda_malloc(device.index, aligned);
    t.storage_ = std::shared_ptr<void>(p, [](void* q) { kernels::cuda_free(q); });
  } else {
    p = std::aligned_alloc(64, aligned);
    RM_CHECK(p != nullptr, "out of host memory allocating ", aligned, " bytes");
    std::memset(p, 0, aligned);
    t.storage_ = std::shared_ptr<void>(p, [](void* q) { std::free(q); });
  }
  t.data_ = p;
  return t;
}

Tensor Tensor::view(void* data, const Shape& shape, DType dtype, Device device) {
  Tensor t;
  t.data_ = data;
  t.shape_ = shape;
  t.dtype_ = dtype;
  t.device_ = device;
  return t;
}

Tensor Tensor::reshape(const Shape& s) const {
  RM_CHECK(s.numel() == numel(), "cannot reshape ", shape_.str(), " to ", s.str());
  Tensor t = *this;
  t.shape_ = s;
  return t;
}

Tensor Tensor::slice(int64_t begin, int64_t end) const {
  RM_CHECK(ndim() >= 1 && 0 <= begin && begin <= end && end <= shape_[0], "slice [", begin, ", ",
           end, ") out of range for shape ", shape_.str());
  Tensor t = *this;
  int64_t row = shape_[0] ? numel() / shape_[0] : 0;
  t.data_ = static_cast<char*>(data_) + size_t(begin * row) * dtype_size(dtype_);
  t.shape_[0] = end - begin;
  return t;
}

void Tensor::zero() {
  if (!data_) return;
  if (device_.is_cuda())
    kernels::cuda_memset_zero(data_, nbytes());
  else
    std::memset(data_, 0, nbytes());
}

void Tensor::copy_from(const Tensor& src) {
  RM_CHECK(src.numel() == numel() && src.dtype_ == dtype_, "copy_from: ", src.shape_.str(), " ",
           dtype_name(src.dtype_), " into ", shape_.str(), " ", dtype_name(dtype_));
  if (device_.is_cpu() && src.device_.is_cpu()) {
    std::memcpy(data_, src.data_, nbytes());
    return;
  }
  using kernels::CopyKind;
  const CopyKind kind = src.device_.is_cpu() ? CopyKind::HostToDevice
                        : device_.is_cpu()   ? CopyKind::DeviceToHost
                                             : CopyKind::DeviceToDevice;
  kernels::cuda_memcpy(data_, src.data_, nbytes(), kind);
}

void Tensor::check_shape(const Shape& expected, const char* what) const {
  RM_CHECK(shape_ == expected, what, ": expected shape ", expected.str(), ", got ", shape_.str());
}

}  // namespace relmimic
