#!/bin/bash
# Runs tests/gpu/test_cuda_networks.cpp (and the workspace and sync tests of test_cuda_reduce.cpp)
# without a GPU, on the host emulation of tools/cuda_emulation (each CUDA thread a fiber; see
# its run.sh): the engine, built with RELMIMIC_WITH_CUDA, drives whole networks through its
# CUDA paths. The activation, Adam, attention (fused, unfused, second order), image, reduction
# and spectral-norm kernels run emulated; conv, linear, LayerNorm and pool are served by the
# CPU references (reference_kernels.cpp). It checks the engine's device wiring (buffers,
# scratch, dispatch, host copies), not the device's rounding or speed. About a minute on two
# cores after a few minutes of compiling.
#
# Usage: tests/gpu/emulation/run_networks.sh [work dir, default build-emulation-nets] [gtest args]
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
source "$root/tools/cuda_emulation/lib.sh"
emu_start build-emulation-nets "${1:-}"
shift || true
flags=(-std=c++20 -O1 -fopenmp -w -I"$work/include" -I"$root" $hdf5_inc -DRELMIMIC_WITH_CUDA=1)

kernels=(activation_cuda adam_cuda attention_cuda attention_unfused_cuda image_cuda reduce_cuda
  spectral_norm_cuda cuda_context device_cuda)
sources=()
emu_kernels "${kernels[@]}"
# CUDA events (the profiling regions' clock) are not emulated: their refusing version stands in.
emu_no_cuda kernels/cuda_event_none.cpp
sources+=("$root"/kernels/*_cpu.cpp "$root"/kernels/*_common.cpp "$root"/engine/*.cpp "$root/tests/gpu/emulation/reference_kernels.cpp"
  "$root/tests/gpu/test_cuda_networks.cpp" "$root/tests/gpu/test_cuda_reduce.cpp")

newest=$(ls -t "$root"/kernels/*.h "$root"/kernels/*.cuh "$root"/engine/*.h "$root"/tests/gpu/*.h \
  "$root"/tests/*.h "$emu"/*.h | head -1)
emu_link "$work/test_networks_emulated" "$newest" -lgtest -lgtest_main -lopenblas \
  -lpthread $hdf5_lib -lcrypto
"$work/test_networks_emulated" --gtest_filter='CudaNetworks.*:CudaWorkspace.*:CudaSync.*' "$@"
