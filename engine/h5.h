// A thin HDF5 layer for checkpoints, demonstrations and trajectories: files, datasets that map to
// Tensors (float32, float64, uint8, int32), groups created along dataset paths, scalar attributes.
// Every HDF5 call is checked (H5_CHECK); failures throw relmimic::Error naming the call, the file
// and the object, and HDF5's own error printing is silenced.
#pragma once

#include <hdf5.h>

#include <string>
#include <vector>

#include "engine/tensor.h"

namespace relmimic::h5 {

namespace detail {
// The innermost message on HDF5's error stack ("" when empty).
std::string last_error();
}  // namespace detail

// H5_CHECK(call, "context"...): throws when call returns a negative value or id.
#define H5_CHECK(call, ...)                                                                     \
  ([&]() {                                                                                      \
    auto h5_result_ = (call);                                                                   \
    if (h5_result_ < 0)                                                                         \
      ::relmimic::detail::fail(__FILE__, __LINE__, #call, "HDF5 call ", #call, " failed",       \
                               ##__VA_ARGS__, " (", ::relmimic::h5::detail::last_error(), ")"); \
    return h5_result_;                                                                          \
  }())

class File {
 public:
  // Creates (truncates) a file for writing.
  static File create(const std::string& path);
  // Opens an existing file; a missing file or one that is not HDF5 gives a one-line error.
  static File open(const std::string& path, bool writable = false);

  File() = default;
  ~File();
  File(File&& o) noexcept;
  File& operator=(File&& o) noexcept;
  File(const File&) = delete;
  File& operator=(const File&) = delete;

  const std::string& path() const { return path_; }
  hid_t id() const { return id_; }
  // Flushes and closes; throws naming the file when its data cannot be written.
  void close();
  // Closes without writing anything more (a file that is given up, e.g. an unfinished
  // temporary): cannot fail.
  void discard();

  // Objects: "a/b/c" paths relative to the root. Intermediate groups are created on write.
  bool exists(const std::string& path) const;
  void create_group(const std::string& path);
  // Names of a group's direct members, sorted.
  std::vector<std::string> list(const std::string& group) const;

  // Datasets. write() stores the tensor's shape and dtype (chunked + deflate when compress).
  void write(const std::string& path, const Tensor& t, bool compress = false);
  template <class T>
  void write(const std::string& path, const std::vector<T>& v) {
    write(path, Tensor::view(const_cast<T*>(v.data()), {int64_t(v.size())}, dtype_of<T>()));
  }
  Shape shape(const std::string& path) const;
  DType dtype(const std::string& path) const;
  // Reads a whole dataset into a new owning tensor.
  Tensor read(const std::string& path) const;
  // Reads into caller memory; the dataset must have exactly this shape and dtype.
  void read_into(const std::string& path, const Tensor& dst) const;
  // Reads rows [begin, begin + dst.dim(0)) along dimension 0 into dst.
  void read_rows(const std::string& path, int64_t begin, const Tensor& dst) const;

  // Scalar attributes on an object ("/" or "" is the root).
  void set_attr(const std::string& obj, const std::string& name, const std::string& value);
  void set_attr(const std::string& obj, const std::string& name, const char* value) {
    set_attr(obj, name, std::string(value));
  }
  void set_attr(const std::string& obj, const std::string& name, double value);
  void set_attr(const std::string& obj, const std::string& name, long value);
  void set_attr(const std::string& obj, const std::string& name, int value) {
    set_attr(obj, name, long(value));
  }
  bool has_attr(const std::string& obj, const std::string& name) const;
  std::string attr_string(const std::string& obj, const std::string& name) const;
  double attr_double(const std::string& obj, const std::string& name) const;
  long attr_long(const std::string& obj, const std::string& name) const;

 private:
  File(hid_t id, std::string path) : id_(id), path_(std::move(path)) {}
  std::string where(const std::string& obj) const;  // "file.h5:/obj" for messages
  hid_t id_ = -1;
  std::string path_;
};

// Writes a file atomically: everything goes to "<path>.tmp-<pid>", and commit() closes it,
// fsyncs and renames it over <path> (engine/files.h). Destroyed without commit(), the temporary
// is discarded and <path> is untouched, so a killed or failed write (a full disk) never leaves a
// half-written file behind. Temporaries of <path> left by killed processes are removed first.
class AtomicWriter {
 public:
  explicit AtomicWriter(const std::string& path);
  ~AtomicWriter();
  File& file() { return file_; }
  void commit();

 private:
  std::string path_, tmp_;
  File file_;
  bool done_ = false;
};

}  // namespace relmimic::h5
