#include "engine/comm.h"

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <string>

#ifdef RELMIMIC_WITH_MPI
// The C API only: skip the deprecated C++ bindings' headers.
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>
#endif

namespace relmimic {

namespace {

CommType comm_type_of_dtype(DType d) {
  switch (d) {
    case DType::f32:
      return CommType::f32;
    case DType::f64:
      return CommType::f64;
    case DType::u8:
      return CommType::u8;
    case DType::i32:
      return CommType::i32;
  }
  RM_FAIL("unknown tensor dtype ", int(d));
}

class SelfBackend final : public CommBackend {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  const char* name() const override { return "self"; }
  void broadcast(void*, long, CommType, int) override {}
  void allreduce(void*, long, CommType, ReduceOp) override {}
  void barrier() override {}
  void gather(const double* in, long n, double* out, int) override {
    if (n > 0) std::memcpy(out, in, size_t(n) * sizeof(double));
  }
  [[noreturn]] void abort(int code) override { std::exit(code); }
};

#ifdef RELMIMIC_WITH_MPI

// Every MPI call's status is checked; the error string names what failed.
#define MPI_CHECK(call)                                                                    \
  do {                                                                                     \
    const int mpi_rc_ = (call);                                                            \
    if (mpi_rc_ != MPI_SUCCESS) {                                                          \
      char mpi_msg_[MPI_MAX_ERROR_STRING];                                                 \
      int mpi_len_ = 0;                                                                    \
      if (MPI_Error_string(mpi_rc_, mpi_msg_, &mpi_len_) != MPI_SUCCESS) mpi_len_ = 0;     \
      RM_FAIL(#call, " failed: ", std::string(mpi_msg_, size_t(mpi_len_)), " (MPI error ", \
              mpi_rc_, ")");                                                               \
    }                                                                                      \
  } while (0)

size_t comm_type_size(CommType t) {
  switch (t) {
    case CommType::f32:
      return 4;
    case CommType::f64:
      return 8;
    case CommType::u8:
      return 1;
    case CommType::i32:
      return 4;
    case CommType::i64:
      return 8;
  }
  RM_FAIL("unknown communication type ", int(t));
}

MPI_Datatype mpi_type(CommType t) {
  switch (t) {
    case CommType::f32:
      return MPI_FLOAT;
    case CommType::f64:
      return MPI_DOUBLE;
    case CommType::u8:
      return MPI_UINT8_T;
    case CommType::i32:
      return MPI_INT32_T;
    case CommType::i64:
      return MPI_INT64_T;
  }
  RM_FAIL("unknown communication type ", int(t));
}

// MPI counts are int: larger buffers go in chunks.
constexpr long kMaxChunk = INT_MAX / 8;

template <class T>
void scale(void* data, long n, double s) {
  T* p = static_cast<T*>(data);
  const T st = T(s);
  for (long i = 0; i < n; ++i) p[i] *= st;
}

class MpiBackend final : public CommBackend {
 public:
  MpiBackend() {
    int initialized = 0;
    MPI_CHECK(MPI_Initialized(&initialized));
    if (!initialized) {
      // Only the main thread communicates; OpenMP and env worker threads never call MPI.
      int provided = 0;
      MPI_CHECK(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided));
      owns_mpi_ = true;
      RM_CHECK(provided >= MPI_THREAD_FUNNELED, "MPI provides thread level ", provided,
               ", relmimic needs MPI_THREAD_FUNNELED");
    }
    MPI_CHECK(MPI_Comm_dup(MPI_COMM_WORLD, &comm_));
    // Return error codes instead of aborting, so MPI_CHECK can report them.
    MPI_CHECK(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN));
    MPI_CHECK(MPI_Comm_rank(comm_, &rank_));
    MPI_CHECK(MPI_Comm_size(comm_, &size_));
  }
  ~MpiBackend() override {
    // No throwing from a destructor: errors at shutdown are ignored.
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (finalized) return;
    MPI_Comm_free(&comm_);
    if (owns_mpi_) MPI_Finalize();
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  const char* name() const override { return "mpi"; }

  void broadcast(void* data, long n, CommType type, int root) override {
    char* p = static_cast<char*>(data);
    const size_t es = comm_type_size(type);
    for (long off = 0; off < n; off += kMaxChunk) {
      const int count = int(std::min(kMaxChunk, n - off));
      MPI_CHECK(MPI_Bcast(p + size_t(off) * es, count, mpi_type(type), root, comm_));
    }
  }
  void allreduce(void* data, long n, CommType type, ReduceOp op) override {
    char* p = static_cast<char*>(data);
    const size_t es = comm_type_size(type);
    for (long off = 0; off < n; off += kMaxChunk) {
      const int count = int(std::min(kMaxChunk, n - off));
      MPI_CHECK(
          MPI_Allreduce(MPI_IN_PLACE, p + size_t(off) * es, count, mpi_type(type), MPI_SUM, comm_));
    }
    if (op == ReduceOp::mean) {
      RM_CHECK(type == CommType::f32 || type == CommType::f64,
               "allreduce mean needs float or double data");
      if (type == CommType::f32)
        scale<float>(data, n, 1.0 / size_);
      else
        scale<double>(data, n, 1.0 / size_);
    }
  }
  void barrier() override { MPI_CHECK(MPI_Barrier(comm_)); }
  void gather(const double* in, long n, double* out, int root) override {
    RM_CHECK(n <= kMaxChunk, "gather of ", n, " values: meant for a few logging values");
    MPI_CHECK(MPI_Gather(in, int(n), MPI_DOUBLE, out, int(n), MPI_DOUBLE, root, comm_));
  }
  [[noreturn]] void abort(int code) override {
    MPI_Abort(comm_, code);
    std::_Exit(code);
  }

 private:
  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0, size_ = 1;
  bool owns_mpi_ = false;
};

#endif  // RELMIMIC_WITH_MPI

// The world size a launcher announced, 0 when none did.
long launcher_size() {
  for (const char* var : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "MPI_LOCALNRANKS"}) {
    if (const char* v = std::getenv(var)) return std::strtol(v, nullptr, 10);
  }
  if (std::getenv("PMIX_RANK")) return 1;  // PMIx announces the rank; the size is MPI's to say
  return 0;
}

bool g_world_parallel = false;

}  // namespace

std::unique_ptr<CommBackend> make_self_backend() {
  return std::make_unique<SelfBackend>();
}

std::unique_ptr<CommBackend> make_mpi_backend() {
#ifdef RELMIMIC_WITH_MPI
  return std::make_unique<MpiBackend>();
#else
  RM_FAIL("this relmimic was built without MPI (CMake found no MPI): multi-learner runs need it");
#endif
}

bool mpi_available() {
#ifdef RELMIMIC_WITH_MPI
  return true;
#else
  return false;
#endif
}

bool launched_by_mpi() {
  if (const char* force = std::getenv("RELMIMIC_MPI")) {
    if (!std::strcmp(force, "0")) return false;
    if (!std::strcmp(force, "1")) return true;
    RM_FAIL("RELMIMIC_MPI must be 0 or 1, got '", force, "'");
  }
  return launcher_size() > 0;
}

Comm::Comm(std::unique_ptr<CommBackend> host) : host_(std::move(host)) {
  RM_CHECK(host_, "Comm needs a backend");
}

Comm& Comm::world() {
  static Comm w = [] {
    if (!launched_by_mpi()) return Comm(make_self_backend());
    // Several processes without MPI would be independent runs writing the same files.
    RM_CHECK(mpi_available() || launcher_size() <= 1, "started by a launcher with ",
             launcher_size(), " processes, but this relmimic was built without MPI");
    return Comm(mpi_available() ? make_mpi_backend() : make_self_backend());
  }();
  g_world_parallel = w.size() > 1;
  return w;
}

bool Comm::world_is_parallel() {
  return g_world_parallel;
}

void Comm::check(long n, int root, const char* what) const {
  RM_CHECK(n >= 0, what, ": negative element count ", n);
  RM_CHECK(root >= 0 && root < size(), what, ": root ", root, " is not a rank of ", size());
}

void Comm::barrier() {
  if (size() > 1) host_->barrier();
}

std::vector<double> Comm::gather(const double* data, long n, int root) {
  check(n, root, "gather");
  std::vector<double> out(rank() == root ? size_t(size()) * size_t(n) : 0);
  if (n > 0) host_->gather(data, n, out.data(), root);
  return out;
}

CommBackend& Comm::backend_for(const Tensor& t, const char* what) {
  if (t.device().is_cpu()) return *host_;
  RM_CHECK(device_, what, ": tensor on ", t.device().str(),
           " but no device communication backend (NCCL) is installed");
  return *device_;
}

void Comm::broadcast(Tensor& t, int root) {
  check(t.numel(), root, "broadcast");
  CommBackend& b = backend_for(t, "broadcast");
  if (size() > 1 && t.numel() > 0)
    b.broadcast(t.raw(), t.numel(), comm_type_of_dtype(t.dtype()), root);
}

void Comm::allreduce(Tensor& t, ReduceOp op) {
  check(t.numel(), 0, "allreduce");
  RM_CHECK(op == ReduceOp::sum || t.dtype() == DType::f32 || t.dtype() == DType::f64,
           "allreduce mean needs a float or double tensor, got ", dtype_name(t.dtype()));
  CommBackend& b = backend_for(t, "allreduce");
  if (size() > 1 && t.numel() > 0)
    b.allreduce(t.raw(), t.numel(), comm_type_of_dtype(t.dtype()), op);
}

void Comm::abort(int code) {
  host_->abort(code);
  std::_Exit(code);  // a backend's abort does not return; this line keeps that promise anyway
}

void Comm::set_device_backend(std::unique_ptr<CommBackend> device) {
  RM_CHECK(device, "set_device_backend: null backend");
  RM_CHECK(device->size() == size() && device->rank() == rank(), "device backend is rank ",
           device->rank(), " of ", device->size(), ", host is rank ", rank(), " of ", size());
  device_ = std::move(device);
}

}  // namespace relmimic
