// Communication between learners: each rank is one learner with its own seed and envs; gradients
// are averaged across ranks before every Adam step and parameters are broadcast from rank 0 at
// start (SPEC.md "Experiments").
//
//   Comm& comm = Comm::world();        // MPI under mpirun/srun, one rank otherwise
//   comm.broadcast(ps.values(), ps.size());        // same start on every rank
//   ... backward ...
//   comm.allreduce_mean(ps.grads(), ps.size());    // one all-reduce over the flat buffer
//   adam.step();
//
// Backends. Comm is a thin typed front over a CommBackend that moves raw buffers:
//   SelfBackend  one process (size 1): every collective is the identity;
//   MpiBackend   MPI_COMM_WORLD (built when CMake finds MPI: RELMIMIC_WITH_MPI).
// Host pointers go to the host backend. The Tensor overloads dispatch on the tensor's device:
// CPU tensors to the host backend, CUDA tensors to the device backend installed with
// set_device_backend() — install_device_comm() (end of this header) picks it: NCCL, whose unique
// id is broadcast over the host backend, on device pointers and its own stream. Without one, a
// CUDA tensor is an error, never a silent host round trip.
//
// MPI starts only when a launcher started the process (mpirun, mpiexec, srun: the environment
// holds OMPI_COMM_WORLD_SIZE, PMI_SIZE, PMIX_RANK or MPI_LOCALNRANKS), so a plain `relmimic ...`
// runs as one rank without touching MPI. RELMIMIC_MPI=0 forces one rank, RELMIMIC_MPI=1 forces
// MPI_Init (a singleton MPI run).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "engine/tensor.h"
#include "kernels/cuda_types.h"

namespace relmimic {

enum class CommType : uint8_t { f32, f64, u8, i32, i64 };
enum class ReduceOp : uint8_t { sum, mean };  // mean: floating types only

// No concepts here: the traits stay usable from C++17 code.
template <class T>
inline constexpr bool is_comm_scalar_v =
    std::is_same_v<T, float> || std::is_same_v<T, double> || std::is_same_v<T, uint8_t> ||
    std::is_same_v<T, int32_t> || std::is_same_v<T, int64_t>;

template <class T>
constexpr CommType comm_type_of() {
  static_assert(is_comm_scalar_v<T>, "communicated types: float, double, uint8, int32, int64");
  if constexpr (std::is_same_v<T, float>) {
    return CommType::f32;
  } else if constexpr (std::is_same_v<T, double>) {
    return CommType::f64;
  } else if constexpr (std::is_same_v<T, uint8_t>) {
    return CommType::u8;
  } else if constexpr (std::is_same_v<T, int32_t>) {
    return CommType::i32;
  } else {
    return CommType::i64;
  }
}

// Moves n elements of type `type` in place. Every rank calls every collective in the same order.
class CommBackend {
 public:
  virtual ~CommBackend() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual const char* name() const = 0;
  virtual void broadcast(void* data, long n, CommType type, int root) = 0;
  // data <- elementwise sum (or mean) over ranks. A backend computes the mean its own way (MPI:
  // sum then scale on the host; NCCL: ncclAvg on the device).
  virtual void allreduce(void* data, long n, CommType type, ReduceOp op) = 0;
  virtual void barrier() = 0;
  // root's `out` (size() * n doubles, rank-major) <- every rank's `in` (n doubles).
  virtual void gather(const double* in, long n, double* out, int root) = 0;
  // Ends every rank of the job (MPI_Abort); a single process simply exits.
  [[noreturn]] virtual void abort(int code) = 0;
};

// One process: rank 0 of 1.
std::unique_ptr<CommBackend> make_self_backend();
// MPI_COMM_WORLD; initialises MPI (MPI_THREAD_FUNNELED: only the main thread communicates) unless
// it already is, finalises it on destruction when it initialised it. Throws in a build without MPI.
std::unique_ptr<CommBackend> make_mpi_backend();
// True when the environment shows a launcher started this process (see the header comment).
bool launched_by_mpi();
// Whether this build can talk MPI.
bool mpi_available();

class Comm {
 public:
  explicit Comm(std::unique_ptr<CommBackend> host);
  // The process-wide communicator, created on first use (MPI when launched by mpirun/srun).
  static Comm& world();
  // True once world() made a communicator with more than one rank (for error paths that must
  // abort the whole job instead of leaving the other ranks waiting in a collective).
  static bool world_is_parallel();

  int rank() const { return host_->rank(); }
  int size() const { return host_->size(); }
  bool is_root() const { return rank() == 0; }
  const char* backend_name() const { return host_->name(); }

  // Host buffers of n elements.
  template <class T>
  void broadcast(T* data, long n, int root = 0) {
    static_assert(is_comm_scalar_v<T>, "broadcast: float, double, uint8, int32 or int64");
    check(n, root, "broadcast");
    if (size() > 1 && n > 0) host_->broadcast(data, n, comm_type_of<T>(), root);
  }
  template <class T>
  void allreduce_sum(T* data, long n) {
    static_assert(is_comm_scalar_v<T>, "allreduce_sum: float, double, uint8, int32 or int64");
    check(n, 0, "allreduce_sum");
    if (size() > 1 && n > 0) host_->allreduce(data, n, comm_type_of<T>(), ReduceOp::sum);
  }
  // data <- (1/size) * sum over ranks: one all-reduce over the flat buffer, then one scale.
  template <class T>
  void allreduce_mean(T* data, long n) {
    static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>,
                  "allreduce_mean: float or double");
    check(n, 0, "allreduce_mean");
    if (size() > 1 && n > 0) host_->allreduce(data, n, comm_type_of<T>(), ReduceOp::mean);
  }
  void barrier();
  // Root gets size() * n values (rank-major); the other ranks get an empty vector.
  std::vector<double> gather(const double* data, long n, int root = 0);

  // Tensors: dispatched on the device (CPU: host backend; CUDA: the device backend).
  void broadcast(Tensor& t, int root = 0);
  void allreduce(Tensor& t, ReduceOp op);

  // The backend for buffers in GPU memory (NCCL). Collective: every rank installs one.
  void set_device_backend(std::unique_ptr<CommBackend> device);
  bool has_device_backend() const { return device_ != nullptr; }

  // Ends every rank of the job with exit code `code`.
  [[noreturn]] void abort(int code);

 private:
  void check(long n, int root, const char* what) const;
  CommBackend& backend_for(const Tensor& t, const char* what);

  std::unique_ptr<CommBackend> host_, device_;
};

// ---------------------------------------------------------------- device communication (NCCL)

// Whether the NCCL backend can run here: the build has it (a CUDA build where CMake found NCCL)
// and libnccl opens (it is loaded at run time, so binaries also run where it is missing).
bool nccl_available();
// Why it cannot ("" when it can).
std::string nccl_missing_reason();
// NCCL over every rank of `host` (collective: every rank calls it), on CUDA device `device`: rank 0
// makes the ncclUniqueId and broadcasts it over the host backend. The collectives run on the
// backend's own stream, ordered after the work already queued on `compute` (default: the legacy
// default stream) and before any work queued there later; the host does not wait, except in
// barrier(). gather() moves doubles in device memory. Throws in a build without NCCL and when
// `device` is not a device of this machine.
std::unique_ptr<CommBackend> make_nccl_backend(Comm& host, int device,
                                               kernels::Stream compute = nullptr);

// This process's rank among those on its node, from the launcher's environment
// (OMPI_COMM_WORLD_LOCAL_RANK, SLURM_LOCALID, MPI_LOCALRANKID, in that order); 0 when none is set.
// `getenv` is the lookup (std::getenv by default); a value that is not a non-negative integer
// is an error naming the variable.
int local_rank_from_env(const char* (*getenv)(const char*) = nullptr);
// The GPU of a local rank: ranks beyond the device count share devices round-robin.
int local_device(int local_rank, int device_count);

// Which device backend a run needs, and the GPU of this rank.
enum class DeviceComm : uint8_t {
  none,  // CPU tensors: the host backend moves them
  self,  // one rank on a GPU: every collective is the identity, no NCCL needed
  nccl,  // several ranks on GPUs
};
const char* device_comm_name(DeviceComm c);
struct DeviceCommChoice {
  DeviceComm kind = DeviceComm::none;
  Device device;  // where this rank's tensors live
};
// One rank keeps the requested device; with several, each rank takes its local GPU
// (local_device(local_rank, gpus)), whatever index was requested. `nccl_missing`: why NCCL cannot
// run ("" when it can). Throws, saying why, when the run cannot have what it needs (no GPU, an
// index beyond the GPUs, several ranks without NCCL).
DeviceCommChoice device_comm_for(Device requested, int world_size, int local_rank,
                                 const std::string& nccl_missing, int gpus);
// Installs into `comm` the device backend that device_comm_for() chooses for this process
// (collective: every rank calls it). Tensors of this rank go to the returned device.
DeviceCommChoice install_device_comm(Comm& comm, Device requested);

// SPEC.md: learner seed = seed + 1e6 * (rank + 1).
inline uint64_t learner_seed(uint64_t seed, int rank) {
  return seed + uint64_t(1000000) * uint64_t(rank + 1);
}

}  // namespace relmimic
