#!/bin/bash
# Runs tests/gpu/test_cuda_training.cpp without a GPU, on the host emulation of
# tools/cuda_emulation (each CUDA thread a fiber; see its run.sh): the PPO and imitation trainers,
# built with RELMIMIC_WITH_CUDA, run their device paths end to end (rollout storage, sampling,
# GAE, losses, gathers, discriminator, Adam) with frames rendered by EGL on the host and
# uploaded (run.device_frames=upload). Every kernel runs emulated (conv through the wmma
# emulation, linear through the cuBLAS one). CUDA-GL interop cannot be emulated: the interop
# test skips. It checks the trainers' device wiring, not the device's rounding or speed.
#
# Usage: tests/gpu/emulation/run_training.sh [work dir, default build-emulation-train] [gtest args]
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
source "$root/tools/cuda_emulation/lib.sh"
emu_start build-emulation-train "${1:-}"
shift || true

kernels=(activation_cuda adam_cuda attention_cuda attention_unfused_cuda conv2d_cuda gemm_cuda
  image_cuda linear_cuda norm_cuda pool3d_cuda reduce_cuda spectral_norm_cuda ppo_loss_cuda gather_cuda cuda_context device_cuda)
sources=()
emu_kernels "${kernels[@]}"
# The interop writer and CUDA events are not emulated: their no-CUDA versions (which refuse)
# stand in.
emu_no_cuda env/frames_cuda_none.cpp kernels/cuda_event_none.cpp
env_sources=()
for s in "$root"/env/*.cpp; do
  [ "$(basename "$s")" = frames_cuda_none.cpp ] || env_sources+=("$s")
done
sources+=("$root"/kernels/*_cpu.cpp "$root"/kernels/*_common.cpp "$root"/engine/*.cpp "${env_sources[@]}" "$root"/algos/*.cpp
  "$root/kernels/cudnn_baseline_none.cpp"
  "$root/tests/gpu/test_cuda_training.cpp")

emu_link "$work/test_training_emulated" "$newest" -lgtest -lgtest_main -lopenblas \
  -lpthread $hdf5_lib -lmujoco -lEGL -lpng -lcrypto
"$work/test_training_emulated" --gtest_filter='CudaGather.*:CudaTraining.*' "$@"
