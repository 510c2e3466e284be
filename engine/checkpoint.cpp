#include "engine/checkpoint.h"

#include <algorithm>
#include <cstring>
#include <sstream>

namespace relmimic {

namespace {
std::string dataset_name(std::string name) {
  std::replace(name.begin(), name.end(), '/', '.');
  return name;
}

// Splits "a[1];b[2, 3]" into its entries.
std::vector<std::string> split_layout(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, ';');)
    if (!item.empty()) out.push_back(item);
  return out;
}

template <class T>
void write_set(h5::File& f, const std::string& group, const ParamSet<T>& ps) {
  f.create_group(group);
  // A set on a CUDA device is written from a host copy (same layout).
  const std::vector<T> host = ps.device().is_cpu() ? std::vector<T>() : ps.values_to_host();
  const T* base = ps.device().is_cpu() ? ps.values() : host.data();
  for (int i = 0; i < ps.count(); ++i) {
    const auto& e = ps.entry(i);
    f.write(group + "/" + dataset_name(e.name),
            Tensor::view(const_cast<T*>(base + e.offset), e.shape, dtype_of<T>()));
  }
}

// Reads a dataset of any float dtype into T memory of n elements.
template <class T>
void read_converted(const h5::File& f, const std::string& path, T* dst, long n) {
  Tensor t = f.read(path);
  RM_CHECK(t.numel() == n, f.path(), ":/", path, ": expected ", n, " values, file has ", t.numel());
  if (t.dtype() == DType::f32) {
    std::copy_n(t.data<float>(), n, dst);
  } else if (t.dtype() == DType::f64) {
    std::copy_n(t.data<double>(), n, dst);
  } else {
    RM_FAIL(f.path(), ":/", path, ": expected floating-point values, file has ",
            dtype_name(t.dtype()));
  }
}

template <class T>
void check_layout(const h5::File& f, const std::string& net, const std::string& what,
                  const ParamSet<T>& ps) {
  const std::string attr = what + "_layout";
  RM_CHECK(f.has_attr(net, attr), f.path(), ": network '", net, "' has no ", what,
           " layout (not a relmimic checkpoint?)");
  const auto have = split_layout(f.attr_string(net, attr));
  const auto want = split_layout(param_layout(ps));
  for (size_t i = 0; i < std::max(have.size(), want.size()); ++i) {
    const std::string h = i < have.size() ? have[i] : "nothing";
    const std::string w = i < want.size() ? want[i] : "nothing";
    RM_CHECK(h == w, f.path(), ": architecture differs in '", net, "' ", what, " #", i,
             ": checkpoint has ", h, ", this network has ", w);
  }
}

template <class T>
void read_set(const h5::File& f, const std::string& net, const std::string& what, ParamSet<T>& ps) {
  check_layout(f, net, what, ps);
  // A set on a CUDA device is read into host memory, then copied over.
  std::vector<T> host(ps.device().is_cpu() ? 0 : size_t(ps.size()));
  for (int i = 0; i < ps.count(); ++i) {
    const auto& e = ps.entry(i);
    T* dst = ps.device().is_cpu() ? ps.value(i) : host.data() + e.offset;
    read_converted(f, net + "/" + what + "/" + dataset_name(e.name), dst, e.size);
  }
  if (!ps.device().is_cpu()) ps.set_values_from_host(host.data());
}
}  // namespace

template <class T>
std::string param_layout(const ParamSet<T>& ps) {
  std::string s;
  for (const auto& e : ps.entries()) s += e.name + e.shape.str() + ";";
  return s;
}

CheckpointWriter::CheckpointWriter(const std::string& path) : w_(path) {
  w_.file().set_attr("/", "format", "relmimic-checkpoint");
  w_.file().set_attr("/", "format_version", 1L);
}

template <class T>
void CheckpointWriter::add_params(const std::string& net, const ParamSet<T>& params,
                                  const ParamSet<T>* buffers) {
  h5::File& f = w_.file();
  write_set(f, net + "/params", params);
  f.set_attr(net, "params_layout", param_layout(params));
  f.set_attr(net, "dtype", dtype_name(dtype_of<T>()));
  if (buffers) {
    write_set(f, net + "/buffers", *buffers);
    f.set_attr(net, "buffers_layout", param_layout(*buffers));
  }
}

template <class T>
void CheckpointWriter::add_adam(const std::string& net, const Adam<T>& adam) {
  h5::File& f = w_.file();
  f.write(net + "/adam/m", adam.m_to_host());
  f.write(net + "/adam/v", adam.v_to_host());
  f.set_attr(net + "/adam", "step", adam.steps());
  f.set_attr(net + "/adam", "lr", adam.lr());
}

void CheckpointWriter::add_rng(const std::string& name, const Rng& rng) {
  const Rng::State st = rng.state();
  // Four 64-bit words as eight 32-bit halves (HDF5 integers here are int32).
  std::vector<int32_t> words(8);
  std::memcpy(words.data(), st.s.data(), sizeof(st.s));
  h5::File& f = w_.file();
  f.write("rng/" + name + "/s", words);
  f.set_attr("rng/" + name + "/s", "cached_normal", st.cached_normal);
  f.set_attr("rng/" + name + "/s", "has_cached", long(st.has_cached));
}

void CheckpointWriter::set_counter(const std::string& name, long value) {
  w_.file().set_attr("/", name, value);
}

void CheckpointWriter::set_string(const std::string& name, const std::string& value) {
  w_.file().set_attr("/", name, value);
}

CheckpointReader::CheckpointReader(const std::string& path) : f_(h5::File::open(path)) {
  RM_CHECK(f_.has_attr("/", "format"), path, ": not a relmimic checkpoint (no format attribute)");
  const std::string format = f_.attr_string("/", "format");
  RM_CHECK(format != "relmimic-demos", path,
           ": a demonstration file (format relmimic-demos, written by relmimic record), not a "
           "relmimic checkpoint");
  RM_CHECK(format == "relmimic-checkpoint", path, ": format '", format,
           "', not a relmimic checkpoint");
}

template <class T>
void CheckpointReader::load_params(const std::string& net, ParamSet<T>& params,
                                   ParamSet<T>* buffers) {
  RM_CHECK(f_.exists(net), f_.path(), ": checkpoint has no network '", net, "'");
  read_set(f_, net, "params", params);
  if (buffers) read_set(f_, net, "buffers", *buffers);
}

template <class T>
void CheckpointReader::load_adam(const std::string& net, Adam<T>& adam) {
  RM_CHECK(f_.exists(net + "/adam"), f_.path(), ": checkpoint has no optimizer state for '", net,
           "'");
  const long n = adam.size();
  std::vector<T> m(static_cast<size_t>(n)), v(static_cast<size_t>(n));
  read_converted(f_, net + "/adam/m", m.data(), n);
  read_converted(f_, net + "/adam/v", v.data(), n);
  adam.set_moments_from_host(m.data(), v.data());
  adam.set_steps(f_.attr_long(net + "/adam", "step"));
}

void CheckpointReader::load_rng(const std::string& name, Rng& rng) {
  const std::string path = "rng/" + name + "/s";
  RM_CHECK(f_.exists(path), f_.path(), ": checkpoint has no RNG state '", name, "'");
  Tensor words = Tensor::zeros({8}, DType::i32);
  f_.read_into(path, words);
  Rng::State st;
  std::memcpy(st.s.data(), words.data<int32_t>(), sizeof(st.s));
  st.cached_normal = f_.attr_double(path, "cached_normal");
  st.has_cached = f_.attr_long(path, "has_cached") != 0;
  rng.set_state(st);
}

long CheckpointReader::counter(const std::string& name) const {
  RM_CHECK(f_.has_attr("/", name), f_.path(), ": checkpoint has no counter '", name, "'");
  return f_.attr_long("/", name);
}

std::string CheckpointReader::string(const std::string& name) const {
  RM_CHECK(f_.has_attr("/", name), f_.path(), ": checkpoint has no entry '", name, "'");
  return f_.attr_string("/", name);
}

#define RELMIMIC_CHECKPOINT_TYPES(T)                                                           \
  template std::string param_layout(const ParamSet<T>&);                                       \
  template void CheckpointWriter::add_params(const std::string&, const ParamSet<T>&,           \
                                             const ParamSet<T>*);                              \
  template void CheckpointWriter::add_adam(const std::string&, const Adam<T>&);                \
  template void CheckpointReader::load_params(const std::string&, ParamSet<T>&, ParamSet<T>*); \
  template void CheckpointReader::load_adam(const std::string&, Adam<T>&);
RELMIMIC_CHECKPOINT_TYPES(float)
RELMIMIC_CHECKPOINT_TYPES(double)

}  // namespace relmimic
