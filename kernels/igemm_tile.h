// One block of the implicit-GEMM conv kernel (conv2d_cuda.cu), written once for the GPU and for
// a CPU emulation of a thread block (tests/gpu/block_emulator.h runs 256 fibers that meet at
// Block::sync()), so the tiling, the loaders and the epilogue are tested without a GPU.
//
// A block computes C[m0 : m0+BM, n0 : n0+BN] of slice blockIdx.z of an op (conv2d_igemm.h):
// K is walked BK = 16 at a time; each step the block stages an A tile As[k][m] and a B tile
// Bs[k][n] in shared memory, while the next step's global loads wait in registers. The Math
// policy multiplies the staged tiles (FP32 below; TF32 tensor cores in conv2d_cuda.cu) and
// leaves the finished tile in Cs, which is written out through op.store().
#pragma once

#include <math.h>

#include "kernels/fast_divmod.h"

#if defined(__CUDACC__)
#define RM_UNROLL _Pragma("unroll")
#else
#define RM_UNROLL
#endif

namespace relmimic::kernels::igemm {

constexpr int kThreads = 256;
constexpr int kBK = 16;
// Row padding in floats: keeps rows 16-byte aligned (vector and wmma loads) while moving the
// banks of consecutive rows apart.
constexpr int kPad = 4;

template <int BM, int BN>
struct Tile {
  static constexpr int kAPerThread = BM * kBK / kThreads;  // A elements each thread loads
  static constexpr int kBPerThread = kBK * BN / kThreads;  // B elements each thread loads
  static constexpr int kThreadsN = BN / 4;                 // FP32: threads along n (4 cols each)
  static constexpr int kFragsN = BN / 16;                  // TF32: 16x16 fragments along n
  static constexpr int kFragsPerWarp = (BM / 16) * kFragsN / (kThreads / 32);
  static_assert(kAPerThread >= 1 && kBPerThread >= 1, "tile smaller than the block");
  static_assert((BM / 4) * kThreadsN == kThreads, "4x4 micro-tiles must cover the tile");
  static_assert(kFragsPerWarp * (kThreads / 32) == (BM / 16) * kFragsN, "uneven fragments");
  static_assert(kThreads % BN == 0 && kThreads % kBK == 0, "fixed per-thread columns");
};

// Shared memory of one block: 26 KB (64x64) to 35 KB (16x256).
template <int BM, int BN>
struct Smem {
  alignas(128) float As[kBK][BM + kPad];  // A tile, k-major: As[k][m]
  alignas(128) float Bs[kBK][BN + kPad];  // B tile: Bs[k][n]
  alignas(128) float Cs[BM][BN + kPad];   // the finished C tile
};

struct alignas(16) Vec4 {
  float v[4];
};

// FP32: each thread owns a 4 x 4 outer-product micro-tile at rows ty*4.., columns tx*4...
template <int BM, int BN>
struct MathFP32 {
  int ty = 0, tx = 0;
  float acc[4][4] = {};

  RM_HD void init(int tid) {
    ty = tid / Tile<BM, BN>::kThreadsN;
    tx = tid % Tile<BM, BN>::kThreadsN;
  }
  RM_HD void step(const Smem<BM, BN>& s) {
    RM_UNROLL
    for (int kk = 0; kk < kBK; ++kk) {
      const Vec4 a = *reinterpret_cast<const Vec4*>(&s.As[kk][ty * 4]);
      const Vec4 b = *reinterpret_cast<const Vec4*>(&s.Bs[kk][tx * 4]);
      RM_UNROLL
      for (int i = 0; i < 4; ++i) {
        RM_UNROLL
        for (int j = 0; j < 4; ++j) acc[i][j] = fmaf(a.v[i], b.v[j], acc[i][j]);
      }
    }
  }
  RM_HD void finish(Smem<BM, BN>& s) const {
    RM_UNROLL
    for (int i = 0; i < 4; ++i)
      *reinterpret_cast<Vec4*>(&s.Cs[ty * 4 + i][tx * 4]) =
          Vec4{{acc[i][0], acc[i][1], acc[i][2], acc[i][3]}};
  }
};

// Block: tid, bx, by, bz (thread and block indices) and sync() (a block-wide barrier).
#if defined(__CUDACC__)
#pragma nv_exec_check_disable
#endif
template <class Op, int BM, int BN, class Math, class Block>
RM_HD void igemm_block(const Op& op, const Block& blk, Smem<BM, BN>& s) {
  using T = Tile<BM, BN>;
  using Slice = typename Op::Slice;
  const Slice p = op.slice(blk.bz);
  const int m0 = blk.by * BM, n0 = blk.bx * BN, tid = blk.tid;
  if (n0 >= p.N) return;  // a phase with fewer columns than the grid (whole block: no barrier)

  float ra[T::kAPerThread], rb[T::kBPerThread];
  // B loads run along n (each thread keeps one column for the whole K loop, decoded once) or
  // along k (one k per thread and step) as the operand is contiguous in memory.
  const int fixed_n = n0 + tid % BN;
  const bool fixed_n_ok = fixed_n < p.N;
  const typename Slice::Col fixed_col = p.col(fixed_n_ok ? fixed_n : 0);

  auto load = [&](int k0) {
    RM_UNROLL
    for (int i = 0; i < T::kAPerThread; ++i) {
      const int e = tid + i * kThreads;
      const int k = k0 + e % kBK, m = m0 + e / kBK;
      ra[i] = m < p.M && k < p.k_end ? p.a(m, k) : 0.f;
    }
    if constexpr (Op::kBKMajor) {
      const int k = k0 + tid % kBK;
      const bool k_ok = k < p.k_end;
      const typename Slice::Row row = p.row(k_ok ? k : p.k_begin);
      RM_UNROLL
      for (int i = 0; i < T::kBPerThread; ++i) {
        const int n = n0 + tid / kBK + i * (kThreads / kBK);
        rb[i] = k_ok && n < p.N ? p.b(row, p.col(n)) : 0.f;
      }
    } else {
      RM_UNROLL
      for (int i = 0; i < T::kBPerThread; ++i) {
        const int k = k0 + tid / BN + i * (kThreads / BN);
        rb[i] = fixed_n_ok && k < p.k_end ? p.b(p.row(k), fixed_col) : 0.f;
      }
    }
  };
  auto stash = [&]() {
    RM_UNROLL
    for (int i = 0; i < T::kAPerThread; ++i) {
      const int e = tid + i * kThreads;
      s.As[e % kBK][e / kBK] = ra[i];
    }
    RM_UNROLL
    for (int i = 0; i < T::kBPerThread; ++i) {
      if constexpr (Op::kBKMajor)
        s.Bs[tid % kBK][tid / kBK + i * (kThreads / kBK)] = rb[i];
      else
        s.Bs[tid / BN + i * (kThreads / BN)][tid % BN] = rb[i];
    }
  };

  Math math;
  math.init(tid);
  if (p.k_begin < p.k_end) load(p.k_begin);
  for (int k0 = p.k_begin; k0 < p.k_end; k0 += kBK) {
    blk.sync();  // everyone is done reading the previous tiles
    stash();
    blk.sync();
    if (k0 + kBK < p.k_end) load(k0 + kBK);  // in flight while this step multiplies
    math.step(s);
  }
  math.finish(s);
  blk.sync();
  // Consecutive threads write consecutive n: contiguous output columns of one map.
  for (int e = tid; e < BM * BN; e += kThreads) {
    const int mm = e / BN, nn = e % BN;
    const int m = m0 + mm, n = n0 + nn;
    if (m < p.M && n < p.N) p.store(m, n, s.Cs[mm][nn]);
  }
}

// Block tile for a GEMM with M rows (the channel count it runs over): small channel counts (the
// nets have 2..128) do not waste most of a block.
struct TileShape {
  int bm, bn;
};
inline TileShape tile_for(int M) {
  return M <= 16 ? TileShape{16, 256} : M <= 32 ? TileShape{32, 128} : TileShape{64, 64};
}

// Blocks of a launch: x over the N columns (the largest slice's), y over the M rows, z over
// the slices (backward_input phases, backward_weight splits).
struct Grid {
  int x, y, z;
};
inline Grid grid_for(TileShape t, int M, int max_n, int slices) {
  return {(max_n + t.bn - 1) / t.bn, (M + t.bm - 1) / t.bm, slices};
}

}  // namespace relmimic::kernels::igemm
