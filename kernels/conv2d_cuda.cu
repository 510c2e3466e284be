// Conv2d on the GPU: the three passes are implicit GEMMs (conv2d_igemm.h says what A, B and C
// are); one tiled kernel computes all of them (igemm_tile.h: the block's work, shared with the
// CPU emulation in the tests). Nothing like im2col is stored: each block gathers its A and B
// tiles from the NCHW tensors into shared memory.
//
// Block tile BM x BN by the GEMM's row count M: 16 x 256, 32 x 128 or 64 x 64; 256 threads.
// FP32: 4 x 4 outer-product micro-tiles per thread (igemm_tile.h). TF32 (below): each warp owns
// two 16 x 16 wmma accumulators, m16n16k8 tf32 fragments with float accumulation.
#include <mma.h>

#include <algorithm>
#include <type_traits>

#include "kernels/conv2d.h"
#include "kernels/conv2d_igemm.h"
#include "kernels/cuda_check.h"
#include "kernels/cuda_context.h"
#include "kernels/igemm_tile.h"

namespace relmimic::kernels {

namespace {

using igemm::kBK;
using igemm::kPad;
using igemm::kThreads;
using igemm::Smem;
using igemm::Tile;
using igemm::tile_for;
using igemm::TileShape;

// TF32 tensor cores: warp w owns fragments w*F .. w*F+F-1 of the tile (row-major fragment
// order). The staged A tile is column-major for wmma (element (m, k) at As[k][m]).
template <int BM, int BN>
struct MathTF32 {
  using T = Tile<BM, BN>;
  int warp = 0;
  nvcuda::wmma::fragment<nvcuda::wmma::accumulator, 16, 16, 8, float> acc[T::kFragsPerWarp];

  __device__ void init(int tid) {
    warp = tid / 32;
#pragma unroll
    for (int f = 0; f < T::kFragsPerWarp; ++f) nvcuda::wmma::fill_fragment(acc[f], 0.f);
  }
  __device__ void step(const Smem<BM, BN>& s) {
    using namespace nvcuda;
#pragma unroll
    for (int kk = 0; kk < kBK; kk += 8) {
#pragma unroll
      for (int f = 0; f < T::kFragsPerWarp; ++f) {
        const int frag = warp * T::kFragsPerWarp + f;
        const int fm = frag / T::kFragsN, fn = frag % T::kFragsN;
        wmma::fragment<wmma::matrix_a, 16, 16, 8, wmma::precision::tf32, wmma::col_major> a;
        wmma::fragment<wmma::matrix_b, 16, 16, 8, wmma::precision::tf32, wmma::row_major> b;
        wmma::load_matrix_sync(a, &s.As[kk][fm * 16], BM + kPad);
        wmma::load_matrix_sync(b, &s.Bs[kk][fn * 16], BN + kPad);
        // Round to nearest tf32 (the loads keep all 23 mantissa bits).
#pragma unroll
        for (int t = 0; t < a.num_elements; ++t) a.x[t] = wmma::__float_to_tf32(a.x[t]);
#pragma unroll
        for (int t = 0; t < b.num_elements; ++t) b.x[t] = wmma::__float_to_tf32(b.x[t]);
        wmma::mma_sync(acc[f], a, b, acc[f]);
      }
    }
  }
  __device__ void finish(Smem<BM, BN>& s) const {
#pragma unroll
    for (int f = 0; f < T::kFragsPerWarp; ++f) {
      const int frag = warp * T::kFragsPerWarp + f;
      const int fm = frag / T::kFragsN, fn = frag % T::kFragsN;
      nvcuda::wmma::store_matrix_sync(&s.Cs[fm * 16][fn * 16], acc[f], BN + kPad,
                                      nvcuda::wmma::mem_row_major);
    }
  }
};

struct DeviceBlock {
  int tid, bx, by, bz;
  __device__ void sync() const { __syncthreads(); }
};

template <class Op, int BM, int BN, bool kTF32>
__global__ void __launch_bounds__(kThreads) igemm_kernel(const __grid_constant__ Op op) {
  __shared__ Smem<BM, BN> smem;
  const DeviceBlock blk{int(threadIdx.x), int(blockIdx.x), int(blockIdx.y), int(blockIdx.z)};
  using Math = std::conditional_t<kTF32, MathTF32<BM, BN>, igemm::MathFP32<BM, BN>>;
  igemm::igemm_block<Op, BM, BN, Math>(op, blk, smem);
}

// The split sum of backward_weight (igemm::add_splits), one element per thread.
__global__ void sum_splits_kernel(int splits, int M, int N, int wsize,
                                  const float* __restrict__ partial, float* __restrict__ dw,
                                  float* __restrict__ db) {
  const long total = long(M) * N;
  for (long i = blockIdx.x * long(blockDim.x) + threadIdx.x; i < total;
       i += long(gridDim.x) * blockDim.x)
    igemm::add_splits(i, splits, M, N, wsize, partial, dw, db);
}

template <class Op, int BM, int BN>
void launch_tile(const Op& op, int M, int max_n, int slices, CudaMath math, Stream stream) {
  const igemm::Grid g = igemm::grid_for({BM, BN}, M, max_n, slices);
  const dim3 grid(unsigned(g.x), unsigned(g.y), unsigned(g.z));
  if (math == CudaMath::TF32)
    igemm_kernel<Op, BM, BN, true><<<grid, kThreads, 0, stream>>>(op);
  else
    igemm_kernel<Op, BM, BN, false><<<grid, kThreads, 0, stream>>>(op);
  CUDA_CHECK_LAUNCH();
}

template <class Op>
void launch(const Op& op, int M, int max_n, int slices, CudaMath math, Stream stream) {
  if (max_n <= 0 || M <= 0) return;
  const TileShape t = tile_for(M);
  if (t.bm == 16)
    launch_tile<Op, 16, 256>(op, M, max_n, slices, math, stream);
  else if (t.bm == 32)
    launch_tile<Op, 32, 128>(op, M, max_n, slices, math, stream);
  else
    launch_tile<Op, 64, 64>(op, M, max_n, slices, math, stream);
}

void check_dims(const Conv2dDims& d, const char* who) {
  check_conv2d_dims(d, who);
  RM_CHECK(!d.blocked_in && !d.blocked_out, who,
           ": the blocked activation layout is the CPU's (oneDNN); CUDA tensors are NCHW");
  // The kernels index with 32-bit integers (and FastDivmod needs dividends below 2^31).
  const long limit = 0x7fffffffL;
  RM_CHECK(d.batch * d.in_size() < limit && d.batch * d.out_size() < limit &&
               d.weight_size() < limit && long(d.batch) * d.out_h() * d.out_w() < limit,
           who, ": tensors of more than 2^31 elements are not supported (batch=", d.batch,
           " input ", d.batch * d.in_size(), " output ", d.batch * d.out_size(), ")");
}

}  // namespace

void conv2d_forward_cuda(const Conv2dDims& d, const float* x, const float* w, const float* b,
                         float* y, CudaMath math, Stream stream) {
  check_dims(d, "conv2d_forward_cuda");
  RM_CHECK(x && w && y, "conv2d_forward_cuda: null x, w or y");
  const igemm::ConvForward op(d, x, w, b, y);
  launch(op, op.M, op.N, 1, math, stream);
}

void conv2d_backward_input_cuda(const Conv2dDims& d, const float* dy, const float* w, float* dx,
                                CudaMath math, Stream stream) {
  check_dims(d, "conv2d_backward_input_cuda");
  RM_CHECK(dy && w && dx, "conv2d_backward_input_cuda: null dy, w or dx");
  for (int first = 0; first < d.stride * d.stride; first += igemm::ConvBackwardInput::kMaxPhases) {
    const igemm::ConvBackwardInput op(d, dy, w, dx, first);
    launch(op, op.M, op.max_N, op.phases, math, stream);
  }
}

void conv2d_backward_weight_cuda(const Conv2dDims& d, const float* x, const float* dy, float* dw,
                                 float* db, CudaMath math, Stream stream) {
  check_dims(d, "conv2d_backward_weight_cuda");
  RM_CHECK(x && dy && dw, "conv2d_backward_weight_cuda: null x, dy or dw");
  const int wsize = d.in_c * d.kh * d.kw, N = wsize + (db ? 1 : 0);
  const int chunk = igemm::weight_chunk(d, N, cuda_sm_count());
  igemm::ConvBackwardWeight op(d, x, dy, nullptr, db != nullptr, chunk);
  const int splits = op.splits();
  op.partial = static_cast<float*>(cuda_workspace(
      WorkspaceUse::conv_split_k, sizeof(float) * size_t(splits) * d.out_c * N, stream));
  launch(op, op.M, op.N, splits, math, stream);
  const long total = long(d.out_c) * N;
  const unsigned blocks = unsigned(std::min<long>((total + 255) / 256, 4096));
  sum_splits_kernel<<<blocks, 256, 0, stream>>>(splits, d.out_c, N, wsize, op.partial, dw, db);
  CUDA_CHECK_LAUNCH();
}

}  // namespace relmimic::kernels
