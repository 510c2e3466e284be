// One 64-byte vector of float or double for the CPU kernels (GCC / Clang vector extensions: one
// AVX-512 register where -march has them, pairs of AVX2 registers otherwise), with unaligned
// loads and stores.
#pragma once

#include <cstring>

namespace relmimic::kernels {

template <class T>
struct Vec64;
template <>
struct Vec64<float> {
  typedef float type __attribute__((vector_size(64)));
};
template <>
struct Vec64<double> {
  typedef double type __attribute__((vector_size(64)));
};

template <class T>
inline typename Vec64<T>::type load64(const T* p) {
  typename Vec64<T>::type v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

template <class T>
inline void store64(T* p, typename Vec64<T>::type v) {
  std::memcpy(p, &v, sizeof v);
}

}  // namespace relmimic::kernels
