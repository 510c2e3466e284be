// cuDNN baselines (kernels/cudnn_baseline.h) through cuDNN's legacy descriptor API.
#include <cudnn.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "kernels/cuda_check.h"
#include "kernels/cudnn_baseline.h"

#define CUDNN_CHECK(call)                                                        \
  do {                                                                           \
    cudnnStatus_t cudnn_status_ = (call);                                        \
    if (cudnn_status_ != CUDNN_STATUS_SUCCESS)                                   \
      ::relmimic::detail::fail(__FILE__, __LINE__, #call, "cuDNN call ", #call,  \
                               " failed: ", cudnnGetErrorString(cudnn_status_)); \
  } while (0)

namespace relmimic::kernels {

namespace {

// Algorithms needing more workspace than this are skipped.
constexpr size_t kMaxWorkspace = size_t(2) << 30;

// The calling thread's cuDNN handle for the current device, bound to `stream`.
struct ThreadHandles {
  std::map<int, cudnnHandle_t> by_device;
  ~ThreadHandles() {
    for (auto& [device, h] : by_device) {
      if (cudaSetDevice(device) != cudaSuccess) continue;
      const cudnnStatus_t s = cudnnDestroy(h);
      if (s != CUDNN_STATUS_SUCCESS)
        std::fprintf(stderr, "relmimic: cudnnDestroy failed: %s\n", cudnnGetErrorString(s));
    }
  }
};
cudnnHandle_t handle(Stream stream) {
  thread_local ThreadHandles handles;
  int device = 0;
  CUDA_CHECK(cudaGetDevice(&device));
  auto it = handles.by_device.find(device);
  if (it == handles.by_device.end()) {
    cudnnHandle_t h = nullptr;
    CUDNN_CHECK(cudnnCreate(&h));
    it = handles.by_device.emplace(device, h).first;
  }
  CUDNN_CHECK(cudnnSetStream(it->second, stream));
  return it->second;
}

cudnnTensorDescriptor_t tensor_desc(const std::vector<int>& dims) {
  std::vector<int> strides(dims.size());
  int s = 1;
  for (size_t i = dims.size(); i-- > 0;) {
    strides[i] = s;
    s *= dims[i];
  }
  cudnnTensorDescriptor_t t = nullptr;
  CUDNN_CHECK(cudnnCreateTensorDescriptor(&t));
  CUDNN_CHECK(cudnnSetTensorNdDescriptor(t, CUDNN_DATA_FLOAT, int(dims.size()), dims.data(),
                                         strides.data()));
  return t;
}

const char* math_name(cudnnMathType_t m) {
  switch (m) {
    case CUDNN_FMA_MATH:
      return "fma";
    case CUDNN_DEFAULT_MATH:
      return "default";
    default:
      return "tensor-op";
  }
}

// The fastest result of a Find that succeeded, is deterministic, fits kMaxWorkspace and obeys
// `math` (FP32: no tensor-op kernels; the descriptor stays at FMA math when it runs).
template <class Perf>
const Perf& pick(const Perf* results, int n, CudaMath math, const char* pass) {
  for (int i = 0; i < n; ++i) {  // Find sorts by time
    const Perf& r = results[i];
    if (r.status != CUDNN_STATUS_SUCCESS || r.determinism != CUDNN_DETERMINISTIC ||
        r.memory > kMaxWorkspace)
      continue;
    if (math == CudaMath::FP32 &&
        (r.mathType == CUDNN_TENSOR_OP_MATH || r.mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION))
      continue;
    return r;
  }
  std::string found;
  for (int i = 0; i < n; ++i)
    found += " algo " + std::to_string(int(results[i].algo)) + " status " +
             std::to_string(int(results[i].status)) + " math " + math_name(results[i].mathType) +
             (results[i].determinism == CUDNN_DETERMINISTIC ? " det" : " nondet") + ";";
  RM_FAIL("CudnnConv2d: no deterministic ", cuda_math_name(math), " algorithm for ", pass, " among",
          found);
}

}  // namespace

bool cudnn_available() {
  return true;
}

std::string cudnn_description() {
  const size_t v = cudnnGetVersion();  // major*10000 + minor*100 + patch since cuDNN 9
  return "cuDNN " + std::to_string(v / 10000) + "." + std::to_string(v / 100 % 100) + "." +
         std::to_string(v % 100);
}

// --- conv ------------------------------------------------------------------------------------
struct CudnnConv2d::Impl {
  Conv2dDims d;
  cudnnTensorDescriptor_t x = nullptr, y = nullptr, bias = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  // One descriptor per pass: each carries the math type of its chosen algorithm.
  cudnnConvolutionDescriptor_t conv_fwd = nullptr, conv_data = nullptr, conv_filter = nullptr;
  cudnnConvolutionFwdAlgoPerf_t fwd{};
  cudnnConvolutionBwdDataAlgoPerf_t data{};
  cudnnConvolutionBwdFilterAlgoPerf_t filter{};
  void* workspace = nullptr;
  size_t workspace_bytes = 0;

  cudnnConvolutionDescriptor_t make_conv(CudaMath math) const {
    cudnnConvolutionDescriptor_t c = nullptr;
    CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&c));
    CUDNN_CHECK(cudnnSetConvolution2dDescriptor(c, d.pad, d.pad, d.stride, d.stride, 1, 1,
                                                CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    CUDNN_CHECK(cudnnSetConvolutionMathType(
        c, math == CudaMath::TF32 ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH));
    return c;
  }
  ~Impl() {
    // Teardown: failures cannot be thrown from here and leave nothing to recover.
    if (workspace) cudaFree(workspace);
    for (auto c : {conv_fwd, conv_data, conv_filter})
      if (c) cudnnDestroyConvolutionDescriptor(c);
    if (w) cudnnDestroyFilterDescriptor(w);
    for (auto t : {x, y, bias})
      if (t) cudnnDestroyTensorDescriptor(t);
  }
};

CudnnConv2d::CudnnConv2d(const Conv2dDims& d, CudaMath math) : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.d = d;
  m.x = tensor_desc({d.batch, d.in_c, d.in_h, d.in_w});
  m.y = tensor_desc({d.batch, d.out_c, d.out_h(), d.out_w()});
  m.bias = tensor_desc({1, d.out_c, 1, 1});
  CUDNN_CHECK(cudnnCreateFilterDescriptor(&m.w));
  CUDNN_CHECK(cudnnSetFilter4dDescriptor(m.w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, d.out_c, d.in_c,
                                         d.kh, d.kw));
  m.conv_fwd = m.make_conv(math);
  m.conv_data = m.make_conv(math);
  m.conv_filter = m.make_conv(math);
  // Output sizes must agree with Conv2dDims (floor division, as here).
  int n, c, h, w;
  CUDNN_CHECK(cudnnGetConvolution2dForwardOutputDim(m.conv_fwd, m.x, m.w, &n, &c, &h, &w));
  RM_CHECK(n == d.batch && c == d.out_c && h == d.out_h() && w == d.out_w(),
           "CudnnConv2d: cuDNN's output ", n, "x", c, "x", h, "x", w, " differs from ", d.batch,
           "x", d.out_c, "x", d.out_h(), "x", d.out_w());

  cudnnHandle_t hd = handle(nullptr);
  constexpr int kMax = 16;
  int found = 0;
  cudnnConvolutionFwdAlgoPerf_t fwd[kMax];
  CUDNN_CHECK(
      cudnnFindConvolutionForwardAlgorithm(hd, m.x, m.w, m.conv_fwd, m.y, kMax, &found, fwd));
  m.fwd = pick(fwd, found, math, "forward");
  cudnnConvolutionBwdDataAlgoPerf_t data[kMax];
  CUDNN_CHECK(cudnnFindConvolutionBackwardDataAlgorithm(hd, m.w, m.y, m.conv_data, m.x, kMax,
                                                        &found, data));
  m.data = pick(data, found, math, "backward data");
  cudnnConvolutionBwdFilterAlgoPerf_t filter[kMax];
  CUDNN_CHECK(cudnnFindConvolutionBackwardFilterAlgorithm(hd, m.x, m.y, m.conv_filter, m.w, kMax,
                                                          &found, filter));
  m.filter = pick(filter, found, math, "backward filter");
  if (math == CudaMath::TF32) {
    // Run each algorithm with the math it was found with (cuDNN's advice after Find).
    CUDNN_CHECK(cudnnSetConvolutionMathType(m.conv_fwd, m.fwd.mathType));
    CUDNN_CHECK(cudnnSetConvolutionMathType(m.conv_data, m.data.mathType));
    CUDNN_CHECK(cudnnSetConvolutionMathType(m.conv_filter, m.filter.mathType));
  }  // FP32 keeps CUDNN_FMA_MATH: a result reported as default math could otherwise use TF32
  m.workspace_bytes = std::max({m.fwd.memory, m.data.memory, m.filter.memory, size_t(1)});
  CUDA_CHECK(cudaMalloc(&m.workspace, m.workspace_bytes));
}

CudnnConv2d::~CudnnConv2d() = default;

void CudnnConv2d::forward(const float* x, const float* w, const float* b, float* y,
                          Stream stream) const {
  const Impl& m = *impl_;
  const float one = 1.f, zero = 0.f;
  cudnnHandle_t hd = handle(stream);
  CUDNN_CHECK(cudnnConvolutionForward(hd, &one, m.x, x, m.w, w, m.conv_fwd, m.fwd.algo, m.workspace,
                                      m.workspace_bytes, &zero, m.y, y));
  if (b) CUDNN_CHECK(cudnnAddTensor(hd, &one, m.bias, b, &one, m.y, y));
}

void CudnnConv2d::backward_input(const float* dy, const float* w, float* dx, Stream stream) const {
  const Impl& m = *impl_;
  const float one = 1.f, zero = 0.f;
  CUDNN_CHECK(cudnnConvolutionBackwardData(handle(stream), &one, m.w, w, m.y, dy, m.conv_data,
                                           m.data.algo, m.workspace, m.workspace_bytes, &zero, m.x,
                                           dx));
}

void CudnnConv2d::backward_weight(const float* x, const float* dy, float* dw, float* db,
                                  Stream stream) const {
  const Impl& m = *impl_;
  const float one = 1.f;
  cudnnHandle_t hd = handle(stream);
  // beta = 1: accumulate, as conv2d_backward_weight_* do.
  CUDNN_CHECK(cudnnConvolutionBackwardFilter(hd, &one, m.x, x, m.y, dy, m.conv_filter,
                                             m.filter.algo, m.workspace, m.workspace_bytes, &one,
                                             m.w, dw));
  if (db) CUDNN_CHECK(cudnnConvolutionBackwardBias(hd, &one, m.y, dy, &one, m.bias, db));
}

std::string CudnnConv2d::algorithms() const {
  const Impl& m = *impl_;
  return "fwd " + std::to_string(int(m.fwd.algo)) + " (" + math_name(m.fwd.mathType) + "), data " +
         std::to_string(int(m.data.algo)) + " (" + math_name(m.data.mathType) + "), filter " +
         std::to_string(int(m.filter.algo)) + " (" + math_name(m.filter.mathType) + ")";
}

// --- pool ------------------------------------------------------------------------------------
struct CudnnPool3d::Impl {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr;
  cudnnPoolingDescriptor_t pool = nullptr;
  ~Impl() {
    if (pool) cudnnDestroyPoolingDescriptor(pool);
    for (auto t : {x, y})
      if (t) cudnnDestroyTensorDescriptor(t);
  }
};

CudnnPool3d::CudnnPool3d(const Pool3dDims& d) : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.x = tensor_desc({d.batch, 1, d.c, d.h, d.w});
  m.y = tensor_desc({d.batch, 1, d.out_c(), d.out_h(), d.out_w()});
  const int window[3] = {d.kc, d.kh, d.kw}, pad[3] = {d.pc, d.ph, d.pw},
            stride[3] = {d.sc, d.sh, d.sw};
  CUDNN_CHECK(cudnnCreatePoolingDescriptor(&m.pool));
  CUDNN_CHECK(cudnnSetPoolingNdDescriptor(m.pool, CUDNN_POOLING_MAX_DETERMINISTIC,
                                          CUDNN_NOT_PROPAGATE_NAN, 3, window, pad, stride));
  int out[5];
  CUDNN_CHECK(cudnnGetPoolingNdForwardOutputDim(m.pool, m.x, 5, out));
  RM_CHECK(out[2] == d.out_c() && out[3] == d.out_h() && out[4] == d.out_w(),
           "CudnnPool3d: cuDNN's output ", out[2], "x", out[3], "x", out[4], " differs from ",
           d.out_c(), "x", d.out_h(), "x", d.out_w());
}

CudnnPool3d::~CudnnPool3d() = default;

void CudnnPool3d::forward(const float* x, float* y, Stream stream) const {
  const float one = 1.f, zero = 0.f;
  CUDNN_CHECK(
      cudnnPoolingForward(handle(stream), impl_->pool, &one, impl_->x, x, &zero, impl_->y, y));
}

void CudnnPool3d::backward(const float* x, const float* y, const float* dy, float* dx,
                           Stream stream) const {
  const float one = 1.f, zero = 0.f;
  CUDNN_CHECK(cudnnPoolingBackward(handle(stream), impl_->pool, &one, impl_->y, y, impl_->y, dy,
                                   impl_->x, x, &zero, impl_->x, dx));
}

}  // namespace relmimic::kernels
