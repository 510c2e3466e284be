// Checkpoints: one HDF5 file per snapshot, written atomically (temporary + fsync + rename).
//
// Layout (readable with h5py; docs/formats.md has a reader):
//   /@format = "relmimic-checkpoint", /@format_version = 1
//   /<net>/params/<name>      one dataset per parameter slot ('/' in names becomes '.')
//   /<net>/buffers/<name>     persistent non-trainable state (spectral-norm u, ...)
//   /<net>@params_layout      "name[shape];name[shape];..." (and @buffers_layout, @dtype) —
//                             compared on load, so a file of a different architecture fails
//                             naming the first entry that differs
//   /<net>/adam/m, /adam/v    optimizer moments (flat, parallel to the parameters), @step, @lr
//   /rng/<name>/s             RNG state: int32 [8] (four 64-bit words), @cached_normal,
//                             @has_cached
//   /@<counter>               integer counters and string metadata (config JSON, versions)
#pragma once

#include <string>

#include "engine/h5.h"
#include "engine/optim.h"
#include "engine/params.h"
#include "engine/rng.h"

namespace relmimic {

// "name[2, 3];name2[4]" for a parameter set.
template <class T>
std::string param_layout(const ParamSet<T>& ps);

class CheckpointWriter {
 public:
  explicit CheckpointWriter(const std::string& path);
  template <class T>
  void add_params(const std::string& net, const ParamSet<T>& params,
                  const ParamSet<T>* buffers = nullptr);
  template <class T>
  void add_adam(const std::string& net, const Adam<T>& adam);
  void add_rng(const std::string& name, const Rng& rng);
  void set_counter(const std::string& name, long value);
  void set_string(const std::string& name, const std::string& value);
  h5::File& file() { return w_.file(); }
  // Makes the checkpoint visible at its path (atomic rename).
  void commit() { w_.commit(); }

 private:
  h5::AtomicWriter w_;
};

class CheckpointReader {
 public:
  explicit CheckpointReader(const std::string& path);
  bool has(const std::string& net) const { return f_.exists(net); }
  // Loads values into an already-built parameter set; throws naming the first difference
  // (missing network, parameter names, shapes) when the architectures do not match.
  template <class T>
  void load_params(const std::string& net, ParamSet<T>& params, ParamSet<T>* buffers = nullptr);
  template <class T>
  void load_adam(const std::string& net, Adam<T>& adam);
  void load_rng(const std::string& name, Rng& rng);
  long counter(const std::string& name) const;
  std::string string(const std::string& name) const;
  bool has_counter(const std::string& name) const { return f_.has_attr("/", name); }
  const h5::File& file() const { return f_; }

 private:
  h5::File f_;
};

}  // namespace relmimic
