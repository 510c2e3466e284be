# Shared steps of the emulation runners (tools/cuda_emulation/run.sh, tests/gpu/emulation/*.sh),
# sourced after they set root (the repository); emu_start sets emu (this folder), work (build
# folder), flags and newest; the runner fills sources (array) with emu_kernels and its own files.

# emu_start DEFAULT_WORK [WORK]: after the runner set root (the repository): emu, work (WORK,
# else $root/DEFAULT_WORK), HDF5's flags (hdf5_inc, hdf5_lib), the compiler flags (flags, one
# set for every runner, so that runners given the same work folder share their objects), newest
# (the newest header or emulation file: objects older than it are rebuilt) and the work folders.
emu_start() {
  emu="$root/tools/cuda_emulation"
  work=$(realpath -m "${2:-$root/$1}")
  hdf5_inc=$(pkg-config --cflags-only-I hdf5 2>/dev/null || echo -I/usr/include/hdf5/serial)
  hdf5_lib=$(pkg-config --libs hdf5 2>/dev/null ||
    echo "-L/usr/lib/x86_64-linux-gnu/hdf5/serial -lhdf5")
  flags=(-std=c++20 -O1 -fopenmp -w -I"$work/include" -I"$root" $hdf5_inc -DRELMIMIC_WITH_CUDA=1
    -DRELMIMIC_ASSET_DIR="\"$root/env/assets\"")
  newest=$(ls -t "$root"/kernels/*.h "$root"/kernels/*.cuh "$root"/engine/*.h "$root"/env/*.h \
    "$root"/algos/*.h "$root"/tests/*.h "$root"/tests/*/*.h "$emu"/*.h "$emu"/*.py | head -1)
  emu_init
}

# The work folders, the emulated CUDA headers, and kernels/*.cuh with their launches translated
# (in $work/include/kernels, found before the repository's on the include path).
emu_init() {
  local h
  mkdir -p "$work/src" "$work/obj" "$work/include/kernels"
  cp "$emu/cuda_runtime.h" "$emu/cublas_v2.h" "$emu/mma.h" "$work/include/"
  for h in "$root"/kernels/*.cuh; do
    python3 "$emu/transform.py" "$h" "$work/include/kernels/$(basename "$h")" "$root"/kernels/*.cuh
  done
}

# kernels/NAME.cu for each NAME, translated to plain C++ in $work/src and added to sources.
emu_kernels() {
  local k out
  for k in "$@"; do
    out="$work/src/$k.cpp"
    python3 "$emu/transform.py" "$root/kernels/$k.cu" "$out" "$root"/kernels/*.cuh
    sources+=("$out")
  done
}

# emu_link EXE NEWEST LIBS...: compiles each source whose object is missing or older than the
# source or than NEWEST (the newest header), JOBS (default 2) at a time, then links EXE.
emu_link() {
  local exe=$1 newest=$2 s o
  shift 2
  local objs=()
  for s in "${sources[@]}"; do
    o="$work/obj/$(echo "${s#$root/}" | tr / _).o"
    objs+=("$o")
    if [ ! -f "$o" ] || [ "$s" -nt "$o" ] || [ "$newest" -nt "$o" ]; then
      g++ "${flags[@]}" -c "$s" -o "$o" &
    fi
    while [ "$(jobs -r | wc -l)" -ge "${JOBS:-2}" ]; do sleep 0.2; done
  done
  wait
  g++ -fopenmp -o "$exe" "${objs[@]}" "$@"
}

# emu_no_cuda FILE...: the build-without-CUDA version of each FILE (a *_none.cpp that refuses,
# guarded by #ifndef RELMIMIC_WITH_CUDA) compiled anyway, for the CUDA paths that cannot be
# emulated (CUDA events, CUDA-GL interop); added to sources.
emu_no_cuda() {
  local f out
  for f in "$@"; do
    out="$work/src/$(basename "$f")"
    sed 's/^#ifndef RELMIMIC_WITH_CUDA$/#if 1/' "$root/$f" > "$out"
    sources+=("$out")
  done
}
