# Shared steps of the emulation runners (tools/cuda_emulation/run.sh, tests/gpu/emulation/*.sh),
# sourced after they set root (the repository); emu_start sets emu (this folder) and work (build
# folder); the runner sets flags (compiler flags, array) and sources (array, filled by
# emu_kernels and the runner).

# emu_start DEFAULT_WORK [WORK]: after the runner set root (the repository): emu, work (WORK,
# else $root/DEFAULT_WORK), HDF5's flags (hdf5_inc, hdf5_lib) and the work folders.
emu_start() {
  emu="$root/tools/cuda_emulation"
  work=$(realpath -m "${2:-$root/$1}")
  hdf5_inc=$(pkg-config --cflags-only-I hdf5 2>/dev/null || echo -I/usr/include/hdf5/serial)
  hdf5_lib=$(pkg-config --libs hdf5 2>/dev/null ||
    echo "-L/usr/lib/x86_64-linux-gnu/hdf5/serial -lhdf5")
  emu_init
}

# The work folders and the emulated CUDA headers.
emu_init() {
  mkdir -p "$work/src" "$work/obj" "$work/include"
  cp "$emu/cuda_runtime.h" "$emu/cublas_v2.h" "$work/include/"
}

# kernels/NAME.cu for each NAME, translated to plain C++ in $work/src and added to sources.
emu_kernels() {
  local k out
  for k in "$@"; do
    out="$work/src/$k.cpp"
    python3 "$emu/transform.py" "$root/kernels/$k.cu" "$out"
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
