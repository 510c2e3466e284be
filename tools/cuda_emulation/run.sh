#!/bin/bash
# Runs the CUDA parity tests (tests/gpu/test_cuda_*.cpp) and the emulator's own tests
# (tests/gpu/emulation/test_emulator.cu) without a GPU: every kernels/*_cuda.cu is compiled as
# C++ against a host emulation of the CUDA subset the kernels use (cuda_runtime.h: one fiber per
# CUDA thread resumed in a seeded shuffled order after each barrier, 3-D grids and blocks, device
# memory in a guarded arena, streams as queues; mma.h: wmma tiles; cublas_v2.h: a reference
# GEMM). It checks indexing, tiling, barriers, reductions, host/device pointers and stream
# order; not the device's rounding or speed, and races only where a barrier is missing (fibers
# switch only at barriers). Minutes; RELMIMIC_GPU_TEST_QUICK=1 runs the quick shapes.
#
# Usage: tools/cuda_emulation/run.sh [work dir, default build-emulation] [gtest arguments...]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
source "$root/tools/cuda_emulation/lib.sh"
emu_start build-emulation "${1:-}"
shift || true

# The kernels whose parity tests run here, and those tests. (cuDNN is not emulated: its
# baselines skip. Tests that need the engine run in tests/gpu/emulation/run_*.sh.)
kernels=(activation_cuda adam_cuda attention_cuda attention_unfused_cuda conv2d_cuda gather_cuda
  gemm_cuda image_cuda linear_cuda norm_cuda pool3d_cuda ppo_loss_cuda reduce_cuda
  spectral_norm_cuda cuda_context device_cuda)
tests=(test_cuda_attention test_cuda_conv test_cuda_dense test_cuda_image test_cuda_ppo_loss
  test_cuda_reduce)
sources=()
emu_kernels "${kernels[@]}"
sources+=("$root"/kernels/*_cpu.cpp "$root"/kernels/*_common.cpp "$root/engine/rng.cpp"
  "$root/kernels/cudnn_baseline_none.cpp")
for t in "${tests[@]}"; do sources+=("$root/tests/gpu/$t.cpp"); done
# The emulator's own tests (planted host pointers, overruns, missing barriers and stream syncs).
python3 "$emu/transform.py" "$root/tests/gpu/emulation/test_emulator.cu" "$work/src/test_emulator.cpp"
sources+=("$work/src/test_emulator.cpp")

emu_link "$work/test_gpu_emulated" "$newest" -lgtest -lgtest_main -lopenblas -lpthread
"$work/test_gpu_emulated" "$@"
