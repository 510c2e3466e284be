// Arena: bump allocation for activations and workspaces, sized at network construction.
// Blocks are never freed until the arena dies, so pointers stay valid; the training loop
// itself never allocates.
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

#include "engine/tensor.h"

namespace relmimic {

class Arena {
 public:
  explicit Arena(Device device = Device::cpu(), size_t block_bytes = size_t(64) << 20);
  ~Arena();
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;

  // Zero-initialised, 256-byte aligned.
  void* alloc(size_t bytes);
  Tensor tensor(const Shape& shape, DType dtype);
  template <class T>
  Tensor tensor(const Shape& shape) {
    return tensor(shape, dtype_of<T>());
  }

  Device device() const { return device_; }
  size_t used_bytes() const { return used_; }
  size_t reserved_bytes() const { return reserved_; }

 private:
  struct Block {
    char* base;
    size_t size, offset;
  };
  Device device_;
  size_t block_bytes_;
  std::vector<Block> blocks_;
  size_t used_ = 0, reserved_ = 0;
};

}  // namespace relmimic
