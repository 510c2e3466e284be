// Tensor: shape, dtype, device and a data pointer. Owning (shared storage) or a non-owning view.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>

#include "kernels/common.h"

namespace relmimic {

enum class DType : uint8_t { f32, f64, u8, i32 };

size_t dtype_size(DType t);
const char* dtype_name(DType t);

template <class T>
constexpr DType dtype_of();
template <>
constexpr DType dtype_of<float>() {
  return DType::f32;
}
template <>
constexpr DType dtype_of<double>() {
  return DType::f64;
}
template <>
constexpr DType dtype_of<uint8_t>() {
  return DType::u8;
}
template <>
constexpr DType dtype_of<int32_t>() {
  return DType::i32;
}

struct Device {
  enum class Kind : uint8_t { CPU, CUDA };
  Kind kind = Kind::CPU;
  int index = 0;
  static Device cpu() { return {}; }
  static Device cuda(int i = 0) { return {Kind::CUDA, i}; }
  bool is_cpu() const { return kind == Kind::CPU; }
  bool is_cuda() const { return kind == Kind::CUDA; }
  bool operator==(const Device&) const = default;
  std::string str() const;
  // "cpu", "cuda", "cuda:1"; throws on anything else.
  static Device parse(const std::string& s);
};

// Up to 6 dimensions, row-major (NCHW for images).
class Shape {
 public:
  static constexpr int kMaxDims = 6;
  Shape() = default;
  Shape(std::initializer_list<int64_t> dims);
  int ndim() const { return n_; }
  int64_t operator[](int i) const { return d_[i < 0 ? i + n_ : i]; }
  int64_t& operator[](int i) { return d_[i < 0 ? i + n_ : i]; }
  int64_t numel() const;
  bool operator==(const Shape& o) const;
  std::string str() const;  // "[2, 3, 4]"
  void push_back(int64_t v);

 private:
  std::array<int64_t, kMaxDims> d_{};
  int n_ = 0;
};

class Tensor {
 public:
  Tensor() = default;
  // Owning tensor; memory is zero-initialised (host, or device memory for CUDA).
  static Tensor zeros(const Shape& shape, DType dtype, Device device = Device::cpu());
  // Non-owning view of memory that someone else keeps alive.
  static Tensor view(void* data, const Shape& shape, DType dtype, Device device = Device::cpu());

  template <class T>
  T* data() const {
    RM_CHECK(dtype_ == dtype_of<T>(), "tensor has dtype ", dtype_name(dtype_), ", asked for ",
             dtype_name(dtype_of<T>()));
    return static_cast<T*>(data_);
  }
  void* raw() const { return data_; }
  const Shape& shape() const { return shape_; }
  int64_t dim(int i) const { return shape_[i]; }
  int ndim() const { return shape_.ndim(); }
  int64_t numel() const { return shape_.numel(); }
  size_t nbytes() const { return size_t(numel()) * dtype_size(dtype_); }
  DType dtype() const { return dtype_; }
  Device device() const { return device_; }
  bool defined() const { return data_ != nullptr; }
  bool owns() const { return storage_ != nullptr; }

  // Same memory, new shape (numel must match).
  Tensor reshape(const Shape& s) const;
  // Rows [begin, end) along dimension 0, as a view sharing storage.
  Tensor slice(int64_t begin, int64_t end) const;
  void zero();
  void copy_from(const Tensor& src);
  // Throws "<what>: expected shape [..], got [..]" when the shape differs.
  void check_shape(const Shape& expected, const char* what) const;

 private:
  void* data_ = nullptr;
  Shape shape_;
  DType dtype_ = DType::f32;
  Device device_;
  std::shared_ptr<void> storage_;
};

}  // namespace relmimic
