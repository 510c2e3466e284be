// Tests of the host emulation itself (tools/cuda_emulation): each hazard it exists to catch is
// planted here once (a host pointer passed to a kernel, a freed or overrun buffer, a wrong copy
// kind, a missing barrier, a missing synchronisation between streams) and must make it stop or
// give a wrong result; the correct twin must pass. Compiled only by the emulation runners
// (tools/cuda_emulation/run.sh translates the launches), never by nvcc.
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cstring>
#include <numeric>
#include <vector>

namespace {

__global__ void fill_kernel(int n, float v, float* out) {
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x)
    out[i] = v;
}

__global__ void add_one_kernel(int n, const float* in, float* out) {
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x)
    out[i] = in[i] + 1.f;
}

__global__ void write_at_kernel(float* p, long i) {
  if (threadIdx.x == 0 && blockIdx.x == 0) p[i] = 1.f;
}

// out[t] = in[t - 1] through shared memory; `barrier` false plants the missing __syncthreads.
constexpr int kShift = 256;
__global__ void shift_kernel(const float* in, float* out, bool barrier) {
  __shared__ float s[kShift];
  const int t = int(threadIdx.x);
  s[t] = in[t];
  if (barrier) __syncthreads();
  out[t] = s[(t + kShift - 1) % kShift];
}

// Every thread of a 3-D grid of 3-D blocks writes its coordinates at its global linear index.
__global__ void coords_kernel(unsigned* out) {
  const unsigned block = (blockIdx.z * gridDim.y + blockIdx.y) * gridDim.x + blockIdx.x;
  const unsigned threads = blockDim.x * blockDim.y * blockDim.z;
  const unsigned t = (threadIdx.z * blockDim.y + threadIdx.y) * blockDim.x + threadIdx.x;
  out[block * threads + t] = (blockIdx.x << 24) | (blockIdx.y << 20) | (blockIdx.z << 16) |
                             (threadIdx.x << 8) | (threadIdx.y << 4) | threadIdx.z;
}

std::vector<float> download(const float* d, int n) {
  std::vector<float> h(size_t(n), 0.f);
  cudaMemcpy(h.data(), d, sizeof(float) * n, cudaMemcpyDeviceToHost);
  return h;
}

float* device_floats(int n) {
  float* p = nullptr;
  EXPECT_EQ(cudaMalloc(&p, sizeof(float) * n), cudaSuccess);
  return p;
}

TEST(Emulator, NewDeviceMemoryIsPoisonedNotZero) {
  float* d = device_floats(64);
  for (float v : download(d, 64)) EXPECT_TRUE(std::isnan(v));
  cudaFree(d);
}

TEST(Emulator, HostPointerArgumentStopsNamingTheKernel) {
  std::vector<float> host(100);
  EXPECT_DEATH(fill_kernel<<<1, 32>>>(100, 1.f, host.data()),
               "fill_kernel: pointer argument 2 must be device memory, but 0x[0-9a-f]+ is host "
               "memory");
}

TEST(Emulator, FreedPointerArgumentStops) {
  float* d = device_floats(100);
  cudaFree(d);
  EXPECT_DEATH(fill_kernel<<<1, 32>>>(100, 1.f, d), "fill_kernel: .* is in freed device memory");
}

TEST(Emulator, OverrunFaultsInsideTheKernel) {
  float* d = device_floats(1024);  // exactly one page: element 1024 is on the guard page
  write_at_kernel<<<1, 32>>>(d, 1023);
  EXPECT_DEATH(write_at_kernel<<<1, 32>>>(d, 1024),
               "write_at_kernel touched device memory it may not: .*outside every allocation");
  cudaFree(d);
}

TEST(Emulator, CopiesCheckTheirKindAndSize) {
  float* d = device_floats(16);
  std::vector<float> h(16, 2.f);
  EXPECT_EQ(cudaMemcpy(d, h.data(), sizeof(float) * 16, cudaMemcpyHostToDevice), cudaSuccess);
  EXPECT_EQ(download(d, 16), h);
  EXPECT_DEATH(cudaMemcpy(h.data(), d, sizeof(float) * 16, cudaMemcpyHostToDevice),
               "cudaMemcpy: the destination must be device memory, but .* is host memory");
  EXPECT_DEATH(cudaMemcpy(d, d, sizeof(float) * 16, cudaMemcpyHostToDevice),
               "cudaMemcpy: the source must be host memory, but .* device allocation");
  EXPECT_DEATH(cudaMemcpy(h.data(), d, sizeof(float) * 17, cudaMemcpyDeviceToHost),
               "cudaMemcpy: the source .* runs past the end of its 64-byte allocation");
  EXPECT_DEATH(cudaFree(h.data()), "cudaFree: .* is host memory");
  cudaFree(d);
}

TEST(Emulator, GemmOperandsMustBeDeviceMemory) {
  cublasHandle_t h = nullptr;
  cublasCreate(&h);
  float* d = device_floats(4);
  std::vector<float> host(4, 1.f);
  const float one = 1.f, zero = 0.f;
  EXPECT_DEATH(cublasSgemmStridedBatched(h, CUBLAS_OP_N, CUBLAS_OP_N, 2, 2, 2, &one, host.data(), 2,
                                         0, d, 2, 0, &zero, d, 2, 0, 1),
               "cublasSgemmStridedBatched: A must be device memory");
  cublasDestroy(h);
  cudaFree(d);
}

TEST(Emulator, GridsAndBlocksHaveThreeDimensions) {
  const dim3 grid(3, 2, 2), block(4, 2, 3);
  const int n = 3 * 2 * 2 * 4 * 2 * 3;
  unsigned* d = nullptr;
  cudaMalloc(&d, sizeof(unsigned) * n);
  coords_kernel<<<grid, block>>>(d);
  std::vector<unsigned> got(n);
  cudaMemcpy(got.data(), d, sizeof(unsigned) * n, cudaMemcpyDeviceToHost);
  int i = 0;
  for (unsigned bz = 0; bz < 2; ++bz)
    for (unsigned by = 0; by < 2; ++by)
      for (unsigned bx = 0; bx < 3; ++bx)
        for (unsigned tz = 0; tz < 3; ++tz)
          for (unsigned ty = 0; ty < 2; ++ty)
            for (unsigned tx = 0; tx < 4; ++tx)
              EXPECT_EQ(got[size_t(i++)],
                        (bx << 24) | (by << 20) | (bz << 16) | (tx << 8) | (ty << 4) | tz);
  cudaFree(d);
}

// Fibers resume in a shuffled order, so a thread may run before the one whose shared-memory
// write it reads: without the barrier the shift reads values nobody has written yet.
TEST(Emulator, MissingBarrierGivesWrongResults) {
  std::vector<float> in(kShift);
  std::iota(in.begin(), in.end(), 1.f);
  float *din = device_floats(kShift), *dout = device_floats(kShift);
  cudaMemcpy(din, in.data(), sizeof(float) * kShift, cudaMemcpyHostToDevice);
  std::vector<float> want(kShift);
  for (int t = 0; t < kShift; ++t) want[size_t(t)] = in[size_t((t + kShift - 1) % kShift)];
  shift_kernel<<<1, kShift>>>(din, dout, true);
  EXPECT_EQ(download(dout, kShift), want);
  // Stale values in shared memory from the correct launch must not hide the bug: new inputs.
  for (float& v : in) v += 1000.f;
  for (int t = 0; t < kShift; ++t) want[size_t(t)] = in[size_t((t + kShift - 1) % kShift)];
  cudaMemcpy(din, in.data(), sizeof(float) * kShift, cudaMemcpyHostToDevice);
  shift_kernel<<<1, kShift>>>(din, dout, false);
  const std::vector<float> got = download(dout, kShift);
  int wrong = 0;
  for (int t = 0; t < kShift; ++t) wrong += got[size_t(t)] != want[size_t(t)];
  EXPECT_GT(wrong, kShift / 8) << "the planted missing barrier went unnoticed";
  cudaFree(din);
  cudaFree(dout);
}

// Work on a non-blocking stream waits until something orders it; a consumer on the legacy
// default stream without an event is a hazard.
TEST(Emulator, UnorderedStreamsStopNamingBothKernels) {
  float *a = device_floats(1000), *b = device_floats(1000);
  cudaStream_t s = nullptr;
  cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking);
  fill_kernel<<<4, 64, 0, s>>>(1000, 3.f, a);
  EXPECT_DEATH(add_one_kernel<<<4, 64>>>(1000, a, b),
               "stream hazard: add_one_kernel on the legacy default stream and fill_kernel on "
               "stream 0x[0-9a-f]+ \\(non-blocking\\)");
  EXPECT_DEATH(download(a, 1000), "stream hazard: cudaMemcpy .* fill_kernel");
  // Ordered by an event, the same pair is fine.
  cudaEvent_t e = nullptr;
  cudaEventCreateWithFlags(&e, cudaEventDisableTiming);
  cudaEventRecord(e, s);
  cudaStreamWaitEvent(nullptr, e, 0);
  add_one_kernel<<<4, 64>>>(1000, a, b);
  EXPECT_EQ(download(b, 1000), std::vector<float>(1000, 4.f));
  cudaEventDestroy(e);
  cudaStreamDestroy(s);
  cudaFree(a);
  cudaFree(b);
}

TEST(Emulator, StreamsRunTheirWorkInOrderAndOnlyWhenOrdered) {
  float *a = device_floats(100), *b = device_floats(100);
  cudaMemset(a, 0, sizeof(float) * 100);
  cudaStream_t s = nullptr;
  cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking);
  fill_kernel<<<1, 32, 0, s>>>(100, 5.f, a);
  add_one_kernel<<<1, 32, 0, s>>>(100, a, b);
  std::vector<float> h(100, -1.f);
  // Nothing has run yet: the queue waits for an order.
  cudaMemcpyAsync(h.data(), b, sizeof(float) * 100, cudaMemcpyDeviceToHost, s);
  EXPECT_EQ(h, std::vector<float>(100, 6.f));  // a copy to host memory completes its stream first
  cudaStreamDestroy(s);
  // A blocking stream's work is ordered before the legacy default stream's next call.
  cudaStreamCreate(&s);
  fill_kernel<<<1, 32, 0, s>>>(100, 7.f, a);
  EXPECT_EQ(download(a, 100), std::vector<float>(100, 7.f));
  cudaStreamDestroy(s);
  cudaFree(a);
  cudaFree(b);
}

TEST(Emulator, ReadsOnTwoStreamsAreNotAHazard) {
  float *a = device_floats(100), *b = device_floats(100), *c = device_floats(100);
  cudaMemset(a, 0, sizeof(float) * 100);
  cudaStream_t s1 = nullptr, s2 = nullptr;
  cudaStreamCreateWithFlags(&s1, cudaStreamNonBlocking);
  cudaStreamCreateWithFlags(&s2, cudaStreamNonBlocking);
  add_one_kernel<<<1, 32, 0, s1>>>(100, a, b);
  add_one_kernel<<<1, 32, 0, s2>>>(100, a, c);
  cudaDeviceSynchronize();
  EXPECT_EQ(download(b, 100), std::vector<float>(100, 1.f));
  EXPECT_EQ(download(c, 100), std::vector<float>(100, 1.f));
  cudaStreamDestroy(s1);
  cudaStreamDestroy(s2);
  cudaFree(a);
  cudaFree(b);
  cudaFree(c);
}

}  // namespace
