#include "engine/arena.h"

#include <cstdlib>
#include <cstring>

namespace relmimic {

namespace {
constexpr size_t kAlign = 256;
size_t round_up(size_t n) {
  return (n + kAlign - 1) / kAlign * kAlign;
}
}  // namespace

Arena::Arena(Device device, size_t block_bytes) : device_(device), block_bytes_(block_bytes) {
  RM_CHECK(device.is_cpu(), "arena on ", device.str(), " needs the CUDA backend");
}

Arena::~Arena() {
  for (Block& b : blocks_) std::free(b.base);
}

void* Arena::alloc(size_t bytes) {
  bytes = round_up(std::max<size_t>(bytes, 1));
  if (blocks_.empty() || blocks_.back().offset + bytes > blocks_.back().size) {
    size_t size = std::max(block_bytes_, bytes);
    char* base = static_cast<char*>(std::aligned_alloc(kAlign, size));
    RM_CHECK(base != nullptr, "arena: out of host memory allocating ", size, " bytes");
    blocks_.push_back({base, size, 0});
    reserved_ += size;
  }
  Block& b = blocks_.back();
  char* p = b.base + b.offset;
  b.offset += bytes;
  used_ += bytes;
  std::memset(p, 0, bytes);
  return p;
}

Tensor Arena::tensor(const Shape& shape, DType dtype) {
  void* p = alloc(size_t(shape.numel()) * dtype_size(dtype));
  return Tensor::view(p, shape, dtype, device_);
}

}  // namespace relmimic
