#!/bin/bash
# Runs the CUDA parity tests (tests/gpu/test_cuda_*.cpp) without a GPU: every kernels/*_cuda.cu
# is compiled as C++ against a host emulation of the CUDA subset the kernels use (one fiber per
# CUDA thread, blocks one after another, __syncthreads and warp shuffles as barriers over the
# live fibers, a column-major reference GEMM for cuBLAS). It checks indexing, tiling, barriers
# and reductions; it cannot show data races (fibers switch only at barriers) or the device's
# rounding, and it is slow (minutes).
#
# Usage: tools/cuda_emulation/run.sh [work dir, default build-emulation] [gtest arguments...]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
source "$root/tools/cuda_emulation/lib.sh"
emu_start build-emulation "${1:-}"
shift || true
flags=(-std=c++20 -O2 -fopenmp -w -I"$work/include" -I"$root" -DRELMIMIC_WITH_CUDA=1)

# The kernels whose parity tests run here, and those tests. (Kernels built on wmma or cuDNN, and
# tests that need the engine, are not emulated.)
kernels=(attention_cuda attention_unfused_cuda image_cuda ppo_loss_cuda reduce_cuda
  spectral_norm_cuda cuda_context device_cuda)
tests=(test_cuda_attention test_cuda_image test_cuda_ppo_loss test_cuda_reduce)
sources=()
emu_kernels "${kernels[@]}"
sources+=("$root"/kernels/*_cpu.cpp "$root"/kernels/*_common.cpp "$root/engine/rng.cpp")
for t in "${tests[@]}"; do sources+=("$root/tests/gpu/$t.cpp"); done

# Rebuild everything that is older than the newest header or emulation file.
newest=$(ls -t "$root"/kernels/*.h "$root"/kernels/*.cuh "$root"/tests/gpu/*.h "$root"/tests/*.h \
  "$emu"/*.h | head -1)
emu_link "$work/test_gpu_emulated" "$newest" -lgtest -lgtest_main -lopenblas -lpthread
"$work/test_gpu_emulated" "$@"
