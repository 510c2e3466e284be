#include "engine/arena.h"

#include <cstdlib>
#include <cstring>

#include "kernels/device.h"

namespace relmimic {

namespace {
constexpr size_t kAlign = 256;
size_t round_up(size_t n) {
  return (n + kAlign - 1) / kAlign * kAlign;
}
}  // namespace

Arena::Arena(Device device, size_t block_bytes) : device_(device), block_bytes_(block_bytes) {
  if (device.is_cuda())
    RM_CHECK(device.index < kernels::cuda_device_count(), "arena on ", device.str(),
             ": no such CUDA device (this machine has ", kernels::cuda_device_count(), ")");
}

Arena::~Arena() {
  for (Block& b : blocks_) {
    if (device_.is_cuda())
      kernels::cuda_free(b.base);
    else
      std::free(b.base);
  }
}

void* Arena::alloc(size_t bytes) {
  bytes = round_up(std::max<size_t>(bytes, 1));
  if (blocks_.empty() || blocks_.back().offset + bytes > blocks_.back().size) {
    size_t size = std::max(block_bytes_, bytes);
    char* base = device_.is_cuda() ? static_cast<char*>(kernels::cuda_malloc(device_.index, size))
                                   : static_cast<char*>(std::aligned_alloc(kAlign, size));
    RM_CHECK(base != nullptr, "arena: out of memory allocating ", size, " bytes on ",
             device_.str());
    blocks_.push_back({base, size, 0});
    reserved_ += size;
  }
  Block& b = blocks_.back();
  char* p = b.base + b.offset;
  b.offset += bytes;
  used_ += bytes;
  if (device_.is_cuda())
    kernels::cuda_memset_zero(p, bytes);
  else
    std::memset(p, 0, bytes);
  return p;
}

Tensor Arena::tensor(const Shape& shape, DType dtype) {
  void* p = alloc(size_t(shape.numel()) * dtype_size(dtype));
  return Tensor::view(p, shape, dtype, device_);
}

}  // namespace relmimic
