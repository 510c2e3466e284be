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
here="$root/tools/cuda_emulation"
work=$(realpath -m "${1:-$root/build-emulation}")
shift || true
mkdir -p "$work/src" "$work/obj" "$work/include"
cp "$here/cuda_runtime.h" "$here/cublas_v2.h" "$work/include/"
flags=(-std=c++20 -O2 -fopenmp -w -I"$work/include" -I"$root" -DRELMIMIC_WITH_CUDA=1)

# The kernels whose parity tests run here, and those tests. (Kernels built on wmma or cuDNN, and
# tests that need the engine, are not emulated.)
kernels=(attention_cuda attention_unfused_cuda image_cuda ppo_loss_cuda reduce_cuda
  spectral_norm_cuda cuda_context device_cuda)
tests=(test_cuda_attention test_cuda_image test_cuda_ppo_loss test_cuda_reduce)
sources=()
for k in "${kernels[@]}"; do
  out="$work/src/$k.cpp"
  python3 "$here/transform.py" "$root/kernels/$k.cu" "$out"
  sources+=("$out")
done
sources+=("$root"/kernels/*_cpu.cpp "$root/engine/rng.cpp")
for t in "${tests[@]}"; do sources+=("$root/tests/gpu/$t.cpp"); done

# Rebuild everything that is older than the newest header or emulation file.
newest=$(ls -t "$root"/kernels/*.h "$root"/kernels/*.cuh "$root"/tests/gpu/*.h "$root"/tests/*.h \
  "$here"/*.h | head -1)
objs=()
for s in "${sources[@]}"; do
  o="$work/obj/$(basename "$s" | tr . _).o"
  objs+=("$o")
  if [ ! -f "$o" ] || [ "$s" -nt "$o" ] || [ "$newest" -nt "$o" ]; then
    g++ "${flags[@]}" -c "$s" -o "$o" &
  fi
  while [ "$(jobs -r | wc -l)" -ge "${JOBS:-2}" ]; do sleep 0.2; done
done
wait
g++ -fopenmp -o "$work/test_gpu_emulated" "${objs[@]}" -lgtest -lgtest_main -lopenblas -lpthread
"$work/test_gpu_emulated" "$@"
