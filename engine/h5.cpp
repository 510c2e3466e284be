#include "engine/h5.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "engine/files.h"

namespace relmimic::h5 {

namespace detail {
namespace {
herr_t innermost(unsigned n, const H5E_error2_t* e, void* out) {
  // The walk goes from the innermost frame outwards; keep the first description.
  auto* s = static_cast<std::string*>(out);
  if (n == 0 && e->desc) *s = e->desc;
  return 0;
}
}  // namespace

std::string last_error() {
  std::string msg;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, innermost, &msg);
  H5Eclear2(H5E_DEFAULT);
  if (msg.empty()) return "no detail";
  // A failed system call's description lists time, descriptor, buffer and sizes (the time with
  // a line break): keep what failed and the system's reason.
  const std::string tag = "error message = '";
  if (const size_t at = msg.find(tag); at != std::string::npos) {
    const size_t from = at + tag.size(), to = msg.find('\'', from);
    msg = msg.substr(0, msg.find(':')) + ": " + msg.substr(from, to - from);
  }
  std::replace(msg.begin(), msg.end(), '\n', ' ');
  return msg;
}
}  // namespace detail

namespace {
// Silence HDF5's own stderr dumps once: every failure is reported through exceptions.
void quiet() {
  static bool done = [] {
    // No exit handler: every file is closed by its owner, and HDF5's handler would close again
    // a file whose close had failed (freed, its id kept: a crash at exit, see close_file). Only
    // effective before HDF5's first call, which this is in relmimic.
    H5dont_atexit();
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    return true;
  }();
  (void)done;
}

hid_t mem_type(DType t) {
  switch (t) {
    case DType::f32:
      return H5T_NATIVE_FLOAT;
    case DType::f64:
      return H5T_NATIVE_DOUBLE;
    case DType::u8:
      return H5T_NATIVE_UINT8;
    case DType::i32:
      return H5T_NATIVE_INT32;
  }
  return -1;
}

std::string norm(const std::string& p) {
  if (p.empty()) return "/";
  return p[0] == '/' ? p : "/" + p;
}

bool writable(hid_t file) {
  unsigned intent = 0;
  return H5Fget_intent(file, &intent) >= 0 && (intent & H5F_ACC_RDWR) != 0;
}

// Points a file's descriptor (sec2, HDF5's default driver) at an anonymous in-memory file, so
// whatever HDF5 still writes to it (dirty metadata, the final truncation) goes nowhere and does
// not fail on a full disk. Sparse: it costs the memory of the few blocks still written.
void discard_writes(hid_t file) {
  hid_t fapl = H5Fget_access_plist(file);
  if (fapl < 0) return;
  int* fd = nullptr;
  if (H5Pget_driver(fapl) == H5FD_SEC2 &&
      H5Fget_vfd_handle(file, fapl, reinterpret_cast<void**>(&fd)) >= 0 && fd && *fd >= 0) {
    const int mem = ::memfd_create("relmimic-discarded", MFD_CLOEXEC);
    if (mem >= 0) {
      ::dup2(mem, *fd);
      ::close(mem);
    }
  }
  H5Pclose(fapl);
  H5Eclear2(H5E_DEFAULT);
}

// Closes a file for good. HDF5 (1.10) frees a file whose H5Fclose failed (its last flush could
// not write, e.g. on a full disk) but keeps its id, and its exit handler closes that id again: a
// crash at exit. So a writable file is flushed first, and one whose flush fails (or that is
// abandoned: `discard`) is closed with its remaining writes discarded. Returns the flush's
// error ("" when it succeeded) and sets `closed` to H5Fclose's result.
std::string close_file(hid_t file, bool discard, herr_t& closed) {
  std::string flush_error;
  if (!discard && writable(file) && H5Fflush(file, H5F_SCOPE_LOCAL) < 0)
    flush_error = detail::last_error();
  if (discard || !flush_error.empty()) discard_writes(file);
  closed = H5Fclose(file);
  return flush_error;
}

// RAII for any HDF5 id with its close function.
struct Id {
  hid_t id;
  herr_t (*close)(hid_t);
  ~Id() {
    if (id >= 0) close(id);
  }
};
}  // namespace

File File::create(const std::string& path) {
  quiet();
  hid_t id = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  RM_CHECK(id >= 0, "cannot create HDF5 file '", path, "' (", detail::last_error(), ")");
  return File(id, path);
}

File File::open(const std::string& path, bool writable) {
  quiet();
  RM_CHECK(std::filesystem::exists(path), "file not found: '", path, "'");
  htri_t is = H5Fis_hdf5(path.c_str());
  RM_CHECK(is > 0, "'", path, "' is not an HDF5 file (corrupt or truncated)");
  hid_t id = H5Fopen(path.c_str(), writable ? H5F_ACC_RDWR : H5F_ACC_RDONLY, H5P_DEFAULT);
  RM_CHECK(id >= 0, "cannot open HDF5 file '", path, "' (", detail::last_error(), ")");
  return File(id, path);
}

File::~File() {
  herr_t closed;
  if (id_ >= 0) close_file(id_, false, closed);
}

File::File(File&& o) noexcept : id_(o.id_), path_(std::move(o.path_)) {
  o.id_ = -1;
}

File& File::operator=(File&& o) noexcept {
  if (this != &o) {
    herr_t closed;
    if (id_ >= 0) close_file(id_, false, closed);
    id_ = o.id_;
    path_ = std::move(o.path_);
    o.id_ = -1;
  }
  return *this;
}

void File::close() {
  if (id_ >= 0) {
    hid_t id = id_;
    id_ = -1;
    herr_t closed;
    const std::string flush_error = close_file(id, false, closed);
    RM_CHECK(flush_error.empty(), "cannot write '", path_, "' (", flush_error, ")");
    H5_CHECK(closed, " on '", path_, "'");
  }
}

void File::discard() {
  if (id_ >= 0) {
    herr_t closed;
    close_file(id_, true, closed);
    id_ = -1;
  }
}

std::string File::where(const std::string& obj) const {
  return path_ + ":" + norm(obj);
}

bool File::exists(const std::string& path) const {
  RM_CHECK(id_ >= 0, "HDF5 file is closed");
  std::string p = norm(path);
  if (p == "/") return true;
  // Check each prefix: H5Lexists fails on a path whose parent is missing.
  size_t pos = 0;
  while ((pos = p.find('/', pos + 1)) != std::string::npos) {
    if (H5Lexists(id_, p.substr(0, pos).c_str(), H5P_DEFAULT) <= 0) return false;
  }
  return H5Lexists(id_, p.c_str(), H5P_DEFAULT) > 0;
}

void File::create_group(const std::string& path) {
  std::string p = norm(path);
  size_t pos = 0;
  while (true) {
    pos = p.find('/', pos + 1);
    std::string prefix = p.substr(0, pos);
    if (prefix.size() > 1 && !exists(prefix)) {
      Id g{H5_CHECK(H5Gcreate2(id_, prefix.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), " for ",
                    where(prefix)),
           H5Gclose};
    }
    if (pos == std::string::npos) break;
  }
}

std::vector<std::string> File::list(const std::string& group) const {
  RM_CHECK(exists(group), where(group), ": no such group");
  Id g{H5_CHECK(H5Gopen2(id_, norm(group).c_str(), H5P_DEFAULT), " for ", where(group)), H5Gclose};
  H5G_info_t info;
  H5_CHECK(H5Gget_info(g.id, &info), " for ", where(group));
  std::vector<std::string> names;
  for (hsize_t i = 0; i < info.nlinks; ++i) {
    ssize_t n = H5_CHECK(
        H5Lget_name_by_idx(g.id, ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT));
    std::string name(size_t(n), '\0');
    H5_CHECK(H5Lget_name_by_idx(g.id, ".", H5_INDEX_NAME, H5_ITER_INC, i, name.data(),
                                size_t(n) + 1, H5P_DEFAULT));
    names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

void File::write(const std::string& path, const Tensor& t, bool compress) {
  RM_CHECK(t.device().is_cpu(), "HDF5 writes host tensors, got one on ", t.device().str());
  std::string p = norm(path);
  RM_CHECK(!exists(p), where(p), ": already exists");
  if (auto slash = p.rfind('/'); slash > 0) create_group(p.substr(0, slash));
  std::vector<hsize_t> dims;
  for (int i = 0; i < t.ndim(); ++i) dims.push_back(hsize_t(t.dim(i)));
  Id space{H5_CHECK(H5Screate_simple(int(dims.size()), dims.data(), nullptr)), H5Sclose};
  Id dcpl{H5_CHECK(H5Pcreate(H5P_DATASET_CREATE)), H5Pclose};
  if (compress && t.numel() > 0 && t.ndim() > 0) {
    // Chunks of whole rows along dimension 0, about 1 MB each.
    std::vector<hsize_t> chunk = dims;
    size_t row = t.nbytes() / size_t(std::max<int64_t>(t.dim(0), 1));
    chunk[0] = std::clamp<hsize_t>(hsize_t((1 << 20) / std::max<size_t>(row, 1)), 1, dims[0]);
    H5_CHECK(H5Pset_chunk(dcpl.id, int(chunk.size()), chunk.data()));
    H5_CHECK(H5Pset_deflate(dcpl.id, 4));
  }
  Id ds{H5_CHECK(H5Dcreate2(id_, p.c_str(), mem_type(t.dtype()), space.id, H5P_DEFAULT, dcpl.id,
                            H5P_DEFAULT),
                 " for ", where(p)),
        H5Dclose};
  if (t.numel() > 0)
    H5_CHECK(H5Dwrite(ds.id, mem_type(t.dtype()), H5S_ALL, H5S_ALL, H5P_DEFAULT, t.raw()), " for ",
             where(p));
}

Shape File::shape(const std::string& path) const {
  RM_CHECK(exists(path), where(path), ": no such dataset");
  Id ds{H5_CHECK(H5Dopen2(id_, norm(path).c_str(), H5P_DEFAULT), " for ", where(path)), H5Dclose};
  Id space{H5_CHECK(H5Dget_space(ds.id), " for ", where(path)), H5Sclose};
  int n = H5_CHECK(H5Sget_simple_extent_ndims(space.id), " for ", where(path));
  RM_CHECK(n <= Shape::kMaxDims, where(path), ": ", n, " dimensions, at most ", Shape::kMaxDims);
  hsize_t dims[H5S_MAX_RANK];
  H5_CHECK(H5Sget_simple_extent_dims(space.id, dims, nullptr), " for ", where(path));
  Shape s;
  for (int i = 0; i < n; ++i) s.push_back(int64_t(dims[i]));
  return s;
}

DType File::dtype(const std::string& path) const {
  RM_CHECK(exists(path), where(path), ": no such dataset");
  Id ds{H5_CHECK(H5Dopen2(id_, norm(path).c_str(), H5P_DEFAULT), " for ", where(path)), H5Dclose};
  Id type{H5_CHECK(H5Dget_type(ds.id), " for ", where(path)), H5Tclose};
  H5T_class_t cls = H5Tget_class(type.id);
  size_t size = H5Tget_size(type.id);
  if (cls == H5T_FLOAT && size == 4) return DType::f32;
  if (cls == H5T_FLOAT && size == 8) return DType::f64;
  if (cls == H5T_INTEGER && size == 1) return DType::u8;
  if (cls == H5T_INTEGER && size == 4) return DType::i32;
  RM_FAIL(where(path), ": unsupported element type (class ", int(cls), ", ", size, " bytes)");
}

Tensor File::read(const std::string& path) const {
  Tensor t = Tensor::zeros(shape(path), dtype(path));
  read_into(path, t);
  return t;
}

void File::read_into(const std::string& path, const Tensor& dst) const {
  Shape s = shape(path);
  RM_CHECK(s == dst.shape(), where(path), ": expected shape ", dst.shape().str(), ", file has ",
           s.str());
  DType dt = dtype(path);
  RM_CHECK(dt == dst.dtype(), where(path), ": expected ", dtype_name(dst.dtype()), ", file has ",
           dtype_name(dt));
  if (dst.numel() == 0) return;
  Id ds{H5_CHECK(H5Dopen2(id_, norm(path).c_str(), H5P_DEFAULT), " for ", where(path)), H5Dclose};
  H5_CHECK(H5Dread(ds.id, mem_type(dst.dtype()), H5S_ALL, H5S_ALL, H5P_DEFAULT, dst.raw()), " for ",
           where(path));
}

void File::read_rows(const std::string& path, int64_t begin, const Tensor& dst) const {
  Shape s = shape(path);
  RM_CHECK(s.ndim() == dst.ndim() && s.ndim() >= 1, where(path), ": cannot read rows of ", s.str(),
           " into ", dst.shape().str());
  for (int i = 1; i < s.ndim(); ++i)
    RM_CHECK(s[i] == dst.dim(i), where(path), ": row shape differs: file ", s.str(), ", buffer ",
             dst.shape().str());
  RM_CHECK(begin >= 0 && begin + dst.dim(0) <= s[0], where(path), ": rows [", begin, ", ",
           begin + dst.dim(0), ") out of range for ", s[0], " rows");
  DType dt = dtype(path);
  RM_CHECK(dt == dst.dtype(), where(path), ": expected ", dtype_name(dst.dtype()), ", file has ",
           dtype_name(dt));
  if (dst.numel() == 0) return;
  Id ds{H5_CHECK(H5Dopen2(id_, norm(path).c_str(), H5P_DEFAULT), " for ", where(path)), H5Dclose};
  Id fspace{H5_CHECK(H5Dget_space(ds.id)), H5Sclose};
  std::vector<hsize_t> start(size_t(s.ndim()), 0), count(size_t(s.ndim()));
  start[0] = hsize_t(begin);
  for (int i = 0; i < s.ndim(); ++i) count[size_t(i)] = hsize_t(dst.dim(i));
  H5_CHECK(
      H5Sselect_hyperslab(fspace.id, H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr));
  Id mspace{H5_CHECK(H5Screate_simple(int(count.size()), count.data(), nullptr)), H5Sclose};
  H5_CHECK(H5Dread(ds.id, mem_type(dst.dtype()), mspace.id, fspace.id, H5P_DEFAULT, dst.raw()),
           " for ", where(path));
}

namespace {
// Opens the object an attribute lives on, replacing an existing attribute of that name.
Id open_obj(hid_t file, const std::string& obj) {
  return {H5Oopen(file, norm(obj).c_str(), H5P_DEFAULT), H5Oclose};
}
}  // namespace

void File::set_attr(const std::string& obj, const std::string& name, const std::string& value) {
  RM_CHECK(exists(obj), where(obj), ": no such object for attribute '", name, "'");
  Id o = open_obj(id_, obj);
  H5_CHECK(o.id, " for ", where(obj));
  if (H5Aexists(o.id, name.c_str()) > 0) H5_CHECK(H5Adelete(o.id, name.c_str()));
  // Variable-length UTF-8, so h5py reads it back as str (fixed-length strings come back as bytes).
  Id type{H5_CHECK(H5Tcopy(H5T_C_S1)), H5Tclose};
  H5_CHECK(H5Tset_size(type.id, H5T_VARIABLE));
  H5_CHECK(H5Tset_cset(type.id, H5T_CSET_UTF8));
  Id space{H5_CHECK(H5Screate(H5S_SCALAR)), H5Sclose};
  Id a{H5_CHECK(H5Acreate2(o.id, name.c_str(), type.id, space.id, H5P_DEFAULT, H5P_DEFAULT),
                " for ", where(obj), "@", name),
       H5Aclose};
  const char* str = value.c_str();
  H5_CHECK(H5Awrite(a.id, type.id, &str));
}

namespace {
template <class V>
void set_scalar_attr(hid_t file, const std::string& where, const std::string& obj,
                     const std::string& name, hid_t type, const V& v) {
  Id o = open_obj(file, obj);
  H5_CHECK(o.id, " for ", where);
  if (H5Aexists(o.id, name.c_str()) > 0) H5_CHECK(H5Adelete(o.id, name.c_str()));
  Id space{H5_CHECK(H5Screate(H5S_SCALAR)), H5Sclose};
  Id a{H5_CHECK(H5Acreate2(o.id, name.c_str(), type, space.id, H5P_DEFAULT, H5P_DEFAULT), " for ",
                where, "@", name),
       H5Aclose};
  H5_CHECK(H5Awrite(a.id, type, &v));
}
}  // namespace

void File::set_attr(const std::string& obj, const std::string& name, double value) {
  RM_CHECK(exists(obj), where(obj), ": no such object for attribute '", name, "'");
  set_scalar_attr(id_, where(obj), obj, name, H5T_NATIVE_DOUBLE, value);
}

void File::set_attr(const std::string& obj, const std::string& name, long value) {
  RM_CHECK(exists(obj), where(obj), ": no such object for attribute '", name, "'");
  int64_t v = value;
  set_scalar_attr(id_, where(obj), obj, name, H5T_NATIVE_INT64, v);
}

bool File::has_attr(const std::string& obj, const std::string& name) const {
  if (!exists(obj)) return false;
  Id o = open_obj(id_, obj);
  return o.id >= 0 && H5Aexists(o.id, name.c_str()) > 0;
}

namespace {
Id open_attr(hid_t file, const std::string& where, const std::string& obj,
             const std::string& name) {
  Id o = open_obj(file, obj);
  RM_CHECK(o.id >= 0, where, ": no such object");
  RM_CHECK(H5Aexists(o.id, name.c_str()) > 0, where, ": missing attribute '", name, "'");
  return {H5Aopen(o.id, name.c_str(), H5P_DEFAULT), H5Aclose};
}
}  // namespace

std::string File::attr_string(const std::string& obj, const std::string& name) const {
  Id a = open_attr(id_, where(obj), obj, name);
  H5_CHECK(a.id, " for ", where(obj), "@", name);
  Id type{H5_CHECK(H5Aget_type(a.id)), H5Tclose};
  RM_CHECK(H5Tget_class(type.id) == H5T_STRING, where(obj), "@", name, ": not a string attribute");
  if (H5Tis_variable_str(type.id) > 0) {
    char* str = nullptr;
    H5_CHECK(H5Aread(a.id, type.id, &str), " for ", where(obj), "@", name);
    std::string s = str ? str : "";
    H5free_memory(str);
    return s;
  }
  size_t n = H5Tget_size(type.id);
  std::string s(n, '\0');
  H5_CHECK(H5Aread(a.id, type.id, s.data()), " for ", where(obj), "@", name);
  s.resize(std::strlen(s.c_str()));
  return s;
}

double File::attr_double(const std::string& obj, const std::string& name) const {
  Id a = open_attr(id_, where(obj), obj, name);
  H5_CHECK(a.id, " for ", where(obj), "@", name);
  double v = 0;
  H5_CHECK(H5Aread(a.id, H5T_NATIVE_DOUBLE, &v), " for ", where(obj), "@", name);
  return v;
}

long File::attr_long(const std::string& obj, const std::string& name) const {
  Id a = open_attr(id_, where(obj), obj, name);
  H5_CHECK(a.id, " for ", where(obj), "@", name);
  Id type{H5_CHECK(H5Aget_type(a.id)), H5Tclose};
  RM_CHECK(H5Tget_class(type.id) == H5T_INTEGER, where(obj), "@", name,
           ": not an integer attribute");
  int64_t v = 0;
  H5_CHECK(H5Aread(a.id, H5T_NATIVE_INT64, &v), " for ", where(obj), "@", name);
  return long(v);
}

AtomicWriter::AtomicWriter(const std::string& path) : path_(path), tmp_(temp_path(path)) {
  if (auto parent = std::filesystem::path(path).parent_path(); !parent.empty())
    std::filesystem::create_directories(parent);
  remove_stale_temps_of(path);
  file_ = File::create(tmp_);
}

AtomicWriter::~AtomicWriter() {
  if (!done_) {
    file_.discard();
    std::remove(tmp_.c_str());
  }
}

void AtomicWriter::commit() {
  RM_CHECK(!done_, "atomic write of '", path_, "' committed twice");
  // A failure leaves the temporary to the destructor, which discards it.
  file_.close();
  done_ = true;  // commit_temp removes the temporary itself when it fails
  commit_temp(tmp_, path_);
}

}  // namespace relmimic::h5
