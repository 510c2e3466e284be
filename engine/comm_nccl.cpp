// The device side of Comm: which backend a run needs (host logic, every build) and the NCCL
// backend (CUDA builds where CMake found NCCL: RELMIMIC_WITH_NCCL). libnccl (~200 MB) is opened
// at run time, not linked: a GPU machine without it still runs everything else, and the NCCL
// backend says which library it could not open.
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <string>
#include <type_traits>

#include "engine/comm.h"
#include "kernels/device.h"

#ifdef RELMIMIC_WITH_NCCL
#include <dlfcn.h>
#include <nccl.h>

#include "kernels/cuda_check.h"
#endif

namespace relmimic {

namespace {

#ifdef RELMIMIC_WITH_NCCL

// The NCCL entry points, from libnccl opened with dlopen.
struct NcclApi {
  decltype(&ncclGetUniqueId) GetUniqueId;
  decltype(&ncclCommInitRank) CommInitRank;
  decltype(&ncclCommCount) CommCount;
  decltype(&ncclCommUserRank) CommUserRank;
  decltype(&ncclCommGetAsyncError) CommGetAsyncError;
  decltype(&ncclCommDestroy) CommDestroy;
  decltype(&ncclCommAbort) CommAbort;
  decltype(&ncclBroadcast) Broadcast;
  decltype(&ncclAllReduce) AllReduce;
  decltype(&ncclSend) Send;
  decltype(&ncclRecv) Recv;
  decltype(&ncclGroupStart) GroupStart;
  decltype(&ncclGroupEnd) GroupEnd;
  decltype(&ncclGetErrorString) GetErrorString;
  decltype(&ncclGetLastError) GetLastError;
};

// Loaded once. `why` (if not null) gets the reason when it cannot be: null is returned then.
const NcclApi* load_nccl(std::string* why) {
  static std::string error;
  static const NcclApi* api = []() -> const NcclApi* {
    // The system's search path first (LD_LIBRARY_PATH, ld.so.cache), then where CMake found it.
    void* h = dlopen("libnccl.so.2", RTLD_NOW | RTLD_LOCAL);
    std::string tried = "libnccl.so.2";
#ifdef RELMIMIC_NCCL_LIBRARY
    if (!h) {
      h = dlopen(RELMIMIC_NCCL_LIBRARY, RTLD_NOW | RTLD_LOCAL);
      tried += std::string(", ") + RELMIMIC_NCCL_LIBRARY;
    }
#endif
    if (!h) {
      const char* e = dlerror();
      error = "cannot open NCCL (tried " + tried + ")" + (e ? std::string(": ") + e : "");
      return nullptr;
    }
    static NcclApi a;
    bool ok = true;
    auto sym = [&](auto& fn, const char* name) {
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(h, name));
      if (!fn && ok) {
        ok = false;
        error = std::string("the NCCL library lacks ") + name + " (NCCL 2.19 or newer is needed)";
      }
    };
    sym(a.GetUniqueId, "ncclGetUniqueId");
    sym(a.CommInitRank, "ncclCommInitRank");
    sym(a.CommCount, "ncclCommCount");
    sym(a.CommUserRank, "ncclCommUserRank");
    sym(a.CommGetAsyncError, "ncclCommGetAsyncError");
    sym(a.CommDestroy, "ncclCommDestroy");
    sym(a.CommAbort, "ncclCommAbort");
    sym(a.Broadcast, "ncclBroadcast");
    sym(a.AllReduce, "ncclAllReduce");
    sym(a.Send, "ncclSend");
    sym(a.Recv, "ncclRecv");
    sym(a.GroupStart, "ncclGroupStart");
    sym(a.GroupEnd, "ncclGroupEnd");
    sym(a.GetErrorString, "ncclGetErrorString");
    sym(a.GetLastError, "ncclGetLastError");
    return ok ? &a : nullptr;
  }();
  if (!api && why) *why = error;
  return api;
}

const NcclApi& nccl() {
  std::string why;
  const NcclApi* a = load_nccl(&why);
  RM_CHECK(a, "NCCL backend: ", why);
  return *a;
}

// Every NCCL call's status is checked; the message names the call, NCCL's reason and its last
// error text (which says which rank or transport failed).
#define NCCL_CHECK(call, comm)                                                                     \
  do {                                                                                             \
    const ncclResult_t nccl_rc_ = (call);                                                          \
    if (nccl_rc_ != ncclSuccess)                                                                   \
      ::relmimic::detail::fail(__FILE__, __LINE__, #call, "NCCL call ", #call,                     \
                               " failed: ", nccl().GetErrorString(nccl_rc_), " (NCCL error ",      \
                               int(nccl_rc_), "; last error: '", nccl().GetLastError(comm), "')"); \
  } while (0)

ncclDataType_t nccl_type(CommType t) {
  switch (t) {
    case CommType::f32:
      return ncclFloat32;
    case CommType::f64:
      return ncclFloat64;
    case CommType::u8:
      return ncclUint8;
    case CommType::i32:
      return ncclInt32;
    case CommType::i64:
      return ncclInt64;
  }
  RM_FAIL("unknown communication type ", int(t));
}

// What rank 0 broadcasts: whether it made an id (so a failure there ends every rank's wait), and
// the id.
struct IdMessage {
  uint8_t ok;
  ncclUniqueId id;
};

class NcclBackend final : public CommBackend {
 public:
  NcclBackend(Comm& host, int device, kernels::Stream compute)
      : rank_(host.rank()), size_(host.size()), device_(device), compute_(compute) {
    // Everything that can fail on one rank alone happens before the first collective, and the
    // ranks agree on the outcome: none is left waiting in ncclCommInitRank for a rank that threw.
    std::string why;
    try {
      setup_local();
    } catch (const std::exception& e) {
      why = e.what();
      release();
    }
    int32_t bad = why.empty() ? 0 : 1;
    host.allreduce_sum(&bad, 1);
    RM_CHECK(why.empty(), why);
    RM_CHECK(bad == 0, "NCCL backend: ", bad, " of ", size_,
             " ranks could not prepare NCCL (their errors say why)");
    IdMessage msg{};
    if (rank_ == 0) {
      const ncclResult_t rc = nccl().GetUniqueId(&msg.id);
      msg.ok = rc == ncclSuccess;
      if (!msg.ok) why = nccl().GetErrorString(rc);
    }
    host.broadcast(reinterpret_cast<uint8_t*>(&msg), long(sizeof msg), 0);
    try {
      RM_CHECK(msg.ok, "NCCL backend: ncclGetUniqueId failed on rank 0",
               why.empty() ? std::string() : ": " + why);
      NCCL_CHECK(nccl().CommInitRank(&comm_, size_, msg.id, rank_), nullptr);
      int n = 0, r = -1;
      NCCL_CHECK(nccl().CommCount(comm_, &n), comm_);
      NCCL_CHECK(nccl().CommUserRank(comm_, &r), comm_);
      RM_CHECK(n == size_ && r == rank_, "NCCL communicator is rank ", r, " of ", n,
               ", the host backend rank ", rank_, " of ", size_);
    } catch (...) {
      release();
      throw;
    }
  }
  ~NcclBackend() override { release(); }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  const char* name() const override { return "nccl"; }

  void broadcast(void* data, long n, CommType type, int root) override {
    check(n, root, "broadcast");
    begin();
    NCCL_CHECK(nccl().Broadcast(data, data, size_t(n), nccl_type(type), root, comm_, stream_),
               comm_);
    end();
  }
  void allreduce(void* data, long n, CommType type, ReduceOp op) override {
    check(n, 0, "allreduce");
    RM_CHECK(op == ReduceOp::sum || type == CommType::f32 || type == CommType::f64,
             "NCCL allreduce mean needs float or double data");
    // ncclAvg: the mean is taken inside the reduction, on the device.
    const ncclRedOp_t nop = op == ReduceOp::mean ? ncclAvg : ncclSum;
    begin();
    NCCL_CHECK(nccl().AllReduce(data, data, size_t(n), nccl_type(type), nop, comm_, stream_),
               comm_);
    end();
  }
  // NCCL has no barrier: a one-element all-reduce, then the host waits for it.
  void barrier() override {
    begin();
    NCCL_CHECK(nccl().AllReduce(scratch_, scratch_, 1, ncclInt32, ncclSum, comm_, stream_), comm_);
    end();
    CUDA_CHECK(cudaStreamSynchronize(stream_));
    ncclResult_t async = ncclSuccess;
    NCCL_CHECK(nccl().CommGetAsyncError(comm_, &async), comm_);
    RM_CHECK(async == ncclSuccess, "NCCL communicator failed asynchronously (seen at barrier): ",
             nccl().GetErrorString(async), "; last error: '", nccl().GetLastError(comm_), "'");
  }
  // Device buffers: root's out[r n .. (r + 1) n) <- rank r's in (grouped sends and receives).
  void gather(const double* in, long n, double* out, int root) override {
    check(n, root, "gather");
    if (n == 0) return;
    begin();
    if (rank_ == root)
      CUDA_CHECK(cudaMemcpyAsync(out + size_t(root) * size_t(n), in, size_t(n) * sizeof(double),
                                 cudaMemcpyDeviceToDevice, stream_));
    NCCL_CHECK(nccl().GroupStart(), comm_);
    if (rank_ == root) {
      for (int r = 0; r < size_; ++r)
        if (r != root)
          NCCL_CHECK(
              nccl().Recv(out + size_t(r) * size_t(n), size_t(n), ncclFloat64, r, comm_, stream_),
              comm_);
    } else {
      NCCL_CHECK(nccl().Send(in, size_t(n), ncclFloat64, root, comm_, stream_), comm_);
    }
    NCCL_CHECK(nccl().GroupEnd(), comm_);
    end();
  }
  [[noreturn]] void abort(int code) override {
    if (comm_) nccl().CommAbort(comm_);  // ends the pending collectives instead of waiting on them
    comm_ = nullptr;
    std::_Exit(code);
  }

 private:
  // This rank's GPU, library, stream, events and barrier scratch.
  void setup_local() {
    const int gpus = kernels::cuda_device_count();
    RM_CHECK(gpus > 0, "NCCL backend: no CUDA device here (", kernels::cuda_device_description(0),
             ")");
    RM_CHECK(device_ >= 0 && device_ < gpus, "NCCL backend: device ", device_,
             " is not one of the ", gpus, " CUDA device(s) here");
    nccl();
    CUDA_CHECK(cudaSetDevice(device_));
    CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    CUDA_CHECK(cudaEventCreateWithFlags(&ready_, cudaEventDisableTiming));
    CUDA_CHECK(cudaEventCreateWithFlags(&done_, cudaEventDisableTiming));
    CUDA_CHECK(cudaMalloc(&scratch_, sizeof(int32_t)));
    CUDA_CHECK(cudaMemset(scratch_, 0, sizeof(int32_t)));
  }
  void check(long n, int root, const char* what) const {
    RM_CHECK(n >= 0, "NCCL ", what, ": negative element count ", n);
    RM_CHECK(root >= 0 && root < size_, "NCCL ", what, ": root ", root, " is not a rank of ",
             size_);
    RM_CHECK(comm_, "NCCL ", what, ": the communicator was aborted");
  }
  // The NCCL stream waits for the work queued on the compute stream so far ...
  void begin() {
    CUDA_CHECK(cudaSetDevice(device_));
    CUDA_CHECK(cudaEventRecord(ready_, compute_));
    CUDA_CHECK(cudaStreamWaitEvent(stream_, ready_, 0));
  }
  // ... and the compute stream's later work waits for the collective.
  void end() {
    CUDA_CHECK(cudaEventRecord(done_, stream_));
    CUDA_CHECK(cudaStreamWaitEvent(compute_, done_, 0));
  }
  // No throwing: runs from the destructor and on a failed construction; errors are ignored.
  void release() {
    if (comm_) nccl().CommDestroy(comm_);
    if (scratch_) cudaFree(scratch_);
    if (done_) cudaEventDestroy(done_);
    if (ready_) cudaEventDestroy(ready_);
    if (stream_) cudaStreamDestroy(stream_);
    comm_ = nullptr;
    scratch_ = nullptr;
    done_ = ready_ = nullptr;
    stream_ = nullptr;
  }

  int rank_, size_, device_;
  cudaStream_t compute_;
  cudaStream_t stream_ = nullptr;
  cudaEvent_t ready_ = nullptr, done_ = nullptr;
  void* scratch_ = nullptr;
  ncclComm_t comm_ = nullptr;
};

#endif  // RELMIMIC_WITH_NCCL

const char* std_getenv(const char* name) {
  return std::getenv(name);
}

}  // namespace

bool nccl_available() {
  return nccl_missing_reason().empty();
}

std::string nccl_missing_reason() {
#ifdef RELMIMIC_WITH_NCCL
  std::string why;
  return load_nccl(&why) ? std::string() : why;
#else
  return "this relmimic was built without NCCL (no CUDA, or CMake found no nccl.h / libnccl)";
#endif
}

std::unique_ptr<CommBackend> make_nccl_backend(Comm& host, int device, kernels::Stream compute) {
#ifdef RELMIMIC_WITH_NCCL
  return std::make_unique<NcclBackend>(host, device, compute);
#else
  (void)host, (void)device, (void)compute;
  RM_FAIL(
      "the NCCL backend is not in this relmimic: it was built without CUDA or CMake found no "
      "nccl.h / libnccl");
#endif
}

int local_rank_from_env(const char* (*getenv)(const char*)) {
  if (!getenv) getenv = std_getenv;
  for (const char* var : {"OMPI_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID", "MPI_LOCALRANKID"}) {
    const char* v = getenv(var);
    if (!v) continue;
    char* end = nullptr;
    errno = 0;
    const long r = std::strtol(v, &end, 10);
    RM_CHECK(*v && end && *end == '\0' && errno == 0 && r >= 0 && r <= INT_MAX, var, "='", v,
             "' is not a local rank (a non-negative integer)");
    return int(r);
  }
  return 0;
}

int local_device(int local_rank, int device_count) {
  RM_CHECK(local_rank >= 0, "local rank ", local_rank, " is negative");
  RM_CHECK(device_count > 0, "local rank ", local_rank, " needs a CUDA device and there is none");
  return local_rank % device_count;
}

const char* device_comm_name(DeviceComm c) {
  switch (c) {
    case DeviceComm::none:
      return "none";
    case DeviceComm::self:
      return "self";
    case DeviceComm::nccl:
      return "nccl";
  }
  return "?";
}

DeviceCommChoice device_comm_for(Device requested, int world_size, int local_rank,
                                 const std::string& nccl_missing, int gpus) {
  RM_CHECK(world_size >= 1, "world size ", world_size, " is not positive");
  if (requested.is_cpu()) return {DeviceComm::none, requested};
  RM_CHECK(gpus > 0, "device ", requested.str(), " requested, but this machine has no CUDA device");
  if (world_size == 1) {
    RM_CHECK(requested.index >= 0 && requested.index < gpus, "device ", requested.str(),
             " requested, but this machine has ", gpus, " CUDA device(s)");
    return {DeviceComm::self, requested};
  }
  RM_CHECK(nccl_missing.empty(), world_size, " learners on ", requested.str(),
           " average their gradients with NCCL, which cannot run here: ", nccl_missing);
  return {DeviceComm::nccl, Device::cuda(local_device(local_rank, gpus))};
}

DeviceCommChoice install_device_comm(Comm& comm, Device requested) {
  const DeviceCommChoice c = device_comm_for(
      requested, comm.size(), requested.is_cpu() ? 0 : local_rank_from_env(),
      requested.is_cpu() || comm.size() == 1 ? std::string() : nccl_missing_reason(),
      requested.is_cpu() ? 0 : kernels::cuda_device_count());
  if (c.kind == DeviceComm::self) comm.set_device_backend(make_self_backend());
  if (c.kind == DeviceComm::nccl) comm.set_device_backend(make_nccl_backend(comm, c.device.index));
  return c;
}

}  // namespace relmimic
