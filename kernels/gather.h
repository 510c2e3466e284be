// Row gathers: dst[i] = src[index[i]] for rows of row_bytes bytes. The PPO minibatches (rows of
// the rollout picked by a shuffled permutation) and the expert windows (k frames of a
// demonstration, one row per frame) are both gathers. Also the discriminator's interpolates of
// two frame batches.
#pragma once

#include <cstdint>

#include "kernels/cuda_types.h"

namespace relmimic::kernels {

// index [rows] on the host; src rows [max(index) + 1, row_bytes], dst [rows, row_bytes]; src and
// dst must not overlap. Throws on a negative index or row_bytes.
void gather_rows_cpu(long rows, long row_bytes, const int32_t* index, const void* src, void* dst);

// The same with index, src and dst in device memory, queued on `stream` (16-byte words where
// row_bytes and the pointers allow it, else 4-byte words or bytes). Indices are not checked on the
// device: the caller builds them in range.
void gather_rows_cuda(long rows, long row_bytes, const int32_t* index, const void* src, void* dst,
                      Stream stream = nullptr);

// Interpolates of two uint8 batches in standardized space, per sample b of `batch`:
//   x_hat[b, i] = T((eps_b * a[b, i] + (1 - eps_b) * e[b, i]) / 255), computed in double,
// for rows of `per` elements; eps [batch]. The CPU version is the discriminator's loop.
template <class T>
void interpolate_frames_cpu(int batch, long per, const T* eps, const uint8_t* a, const uint8_t* e,
                            T* x_hat);
template <class T>
void interpolate_frames_cuda(int batch, long per, const T* eps, const uint8_t* a, const uint8_t* e,
                             T* x_hat, Stream stream = nullptr);

}  // namespace relmimic::kernels
