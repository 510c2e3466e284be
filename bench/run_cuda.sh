#!/bin/bash
# The GPU batch of the CUDA backend: the parity tests (tests/gpu) and the attention benchmark.
#
#   bench/run_cuda.sh pack [bundle]      on a machine with nvcc (GPU or not): builds test_gpu and
#                                        bench_cuda_attention for any x86-64 CPU and copies them,
#                                        with the non-CUDA shared libraries they load, into
#                                        bundle (default build-gpu-pack/bundle)
#   bench/run_cuda.sh run [bundle] [out] on the GPU machine (which needs only the CUDA runtime
#                                        and cuBLAS): runs both; logs, the gtest JSON and the
#                                        benchmark JSON go to out (default $OUT, else bundle/out)
#
# Where the whole project builds on the GPU machine, `ctest -L gpu` and the benchmark binary in
# a CUDA build directory do the same.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
mode=${1:-}
bundle=$(realpath -m "${2:-$root/build-gpu-pack/bundle}")

case "$mode" in
  pack)
    build="$root/build-gpu-pack"
    cmake -S "$root" -B "$build" -DRELMIMIC_CUDA=ON -DRELMIMIC_NATIVE=OFF \
      -DRELMIMIC_BUILD_BENCH=ON > "$build.configure.log"
    cmake --build "$build" -j"${JOBS:-2}" --target test_gpu bench_cuda_attention
    rm -rf "$bundle"
    mkdir -p "$bundle/lib"
    cp "$build/tests/test_gpu" "$build/bench/bench_cuda_attention" "$bundle/"
    # The CUDA libraries come from the GPU machine's toolkit; glibc from its system.
    ldd "$bundle/test_gpu" "$bundle/bench_cuda_attention" | awk '/=> \//{print $3}' | sort -u |
      while read -r lib; do
        case "$(basename "$lib")" in
          libcuda.* | libcudart.* | libcublas* | libc.so.* | libm.so.* | libdl.so.* | \
            libpthread.so.* | librt.so.* | ld-linux*) ;;
          *) cp -L "$lib" "$bundle/lib/" ;;
        esac
      done
    du -sh "$bundle"
    ;;
  run)
    out=$(realpath -m "${3:-${OUT:-$bundle/out}}")
    mkdir -p "$out"
    export LD_LIBRARY_PATH="$bundle/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
    nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,temperature.gpu,power.draw \
      --format=csv > "$out/gpu.csv" 2>&1 || true
    status=0
    "$bundle/test_gpu" --gtest_output="json:$out/test_gpu.json" > "$out/test_gpu.log" 2>&1 ||
      status=$?
    "$bundle/bench_cuda_attention" --benchmark_out="$out/cuda_attention.json" \
      --benchmark_out_format=json --benchmark_counters_tabular=true > "$out/bench.log" 2>&1 ||
      status=$?
    grep -E "PASSED|FAILED|SKIPPED \]" "$out/test_gpu.log" | tail -20
    grep -E "median" "$out/bench.log" || tail -20 "$out/bench.log"
    exit "$status"
    ;;
  *)
    sed -n '2,14p' "$0"
    exit 2
    ;;
esac
