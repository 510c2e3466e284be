#!/bin/bash
# Runs the CUDA parity tests (tests/gpu/test_cuda_*.cpp) without a GPU: every kernels/*_cuda.cu
# is compiled as C++ against a host emulation of the CUDA subset the kernels use (one fiber per
# CUDA thread, blocks one after another, __syncthreads and warp shuffles as barriers over the
# live fibers, a column-major reference GEMM for cuBLAS). It checks indexing, tiling, barriers
# and reductions; it cannot show data races (fibers switch only at barriers) or the device's
# rounding, and it is slow (minutes). Sources that use cuDNN are left out.
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

sources=()
for f in "$root"/kernels/*_cuda.cu; do
  if grep -q cudnn "$f"; then
    echo "emulation: skipping $(basename "$f") (cuDNN)"
    continue
  fi
  out="$work/src/$(basename "$f" .cu).cpp"
  python3 "$here/transform.py" "$f" "$out"
  sources+=("$out")
done
sources+=("$root"/kernels/*_cpu.cpp "$root/engine/rng.cpp")
for t in "$root"/tests/gpu/test_cuda_*.cpp; do
  # The parity tests that go through engine Tensors need the whole engine; the kernel tests not.
  grep -q '"engine/tensor.h"' "$t" || sources+=("$t")
done

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
