#!/bin/bash
# Runs tests/gpu/test_cuda_networks.cpp, test_cuda_kernels.cpp (Adam, activations, their
# streams) and the workspace and sync tests of test_cuda_reduce.cpp without a GPU, on the host
# emulation of tools/cuda_emulation (each CUDA thread a fiber; see its run.sh): the engine, built
# with RELMIMIC_WITH_CUDA, drives whole networks through its CUDA paths, every kernel emulated
# (conv through the wmma emulation, linear through the cuBLAS one). It checks the engine's device
# wiring (buffers, scratch, dispatch, host copies, streams), not the device's rounding or speed.
#
# Usage: tests/gpu/emulation/run_networks.sh [work dir, default build-emulation-nets] [gtest args]
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
source "$root/tools/cuda_emulation/lib.sh"
emu_start build-emulation-nets "${1:-}"
shift || true

kernels=(activation_cuda adam_cuda attention_cuda attention_unfused_cuda conv2d_cuda gemm_cuda
  image_cuda linear_cuda norm_cuda pool3d_cuda reduce_cuda spectral_norm_cuda cuda_context device_cuda)
sources=()
emu_kernels "${kernels[@]}"
# CUDA events (the profiling regions' clock) are not emulated: their refusing version stands in.
emu_no_cuda kernels/cuda_event_none.cpp
sources+=("$root"/kernels/*_cpu.cpp "$root"/kernels/*_common.cpp "$root"/engine/*.cpp
  "$root/kernels/cudnn_baseline_none.cpp" "$root/tests/gpu/test_cuda_networks.cpp"
  "$root/tests/gpu/test_cuda_reduce.cpp" "$root/tests/gpu/test_cuda_kernels.cpp")

emu_link "$work/test_networks_emulated" "$newest" -lgtest -lgtest_main -lopenblas \
  -lpthread $hdf5_lib -lcrypto
"$work/test_networks_emulated" --gtest_filter='CudaNetworks.*:CudaWorkspace.*:CudaSync.*:CudaParity.*' "$@"
