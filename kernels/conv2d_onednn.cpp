// oneDNN convolutions behind the conv2d_*_cpu<float> contracts (kernels/conv2d_onednn.h).
// The user's tensors are NCHW / OIHW, or, for activations flagged blocked in Conv2dDims, already
// in oneDNN's blocked layout (nChw16c on AVX-512: activation_block()). Each primitive picks its
// own layout (format `any`) and the reorders between the user's layout and it run inside each
// call, so the timings in bench/results include them; a blocked tensor usually needs none.
// Weights change every step, so they are reordered every call.
#include "kernels/conv2d_onednn.h"

#include <omp.h>

#include <algorithm>
#include <map>
#include <memory>
#include <oneapi/dnnl/dnnl.hpp>
#include <tuple>
#include <vector>

#include "kernels/common.h"

namespace relmimic::kernels::onednn {

namespace {

using dnnl::memory;
using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;

enum class Pass { forward, backward_input, backward_weight };

dnnl::engine& cpu_engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

// Runs p with a prepared argument array through the C API: the C++ API's execute copies its
// argument map into a new vector on every call.
void run(const dnnl::primitive& p, dnnl::stream& s, const std::vector<dnnl_exec_arg_t>& args) {
  dnnl::error::wrap_c_api(dnnl_primitive_execute(p.get(), s.get(), int(args.size()), args.data()),
                          "could not execute a oneDNN primitive");
}

// One buffer in the primitive's layout, fed from (or written back to) a user tensor in the
// plain layout by a reorder, or the user tensor itself when the layouts agree.
struct Staged {
  memory user, prim;
  dnnl::reorder to_prim, to_user;
  std::vector<dnnl_exec_arg_t> in_args, out_args;
  bool same = true;
  void init(const memory::desc& user_md, const memory::desc& prim_md, bool in, bool out) {
    user = memory(user_md, cpu_engine(), DNNL_MEMORY_NONE);
    same = user_md == prim_md;
    if (same) return;
    prim = memory(prim_md, cpu_engine());
    if (in) {
      to_prim = dnnl::reorder(user, prim);
      in_args = {{DNNL_ARG_FROM, user.get()}, {DNNL_ARG_TO, prim.get()}};
    }
    if (out) {
      to_user = dnnl::reorder(prim, user);
      out_args = {{DNNL_ARG_FROM, prim.get()}, {DNNL_ARG_TO, user.get()}};
    }
  }
  // The memory the primitive reads or writes.
  const memory& used() const { return same ? user : prim; }
  // Points the user side at p and, for an input, reorders it into the primitive's layout.
  void bind(const void* p, dnnl::stream& s, bool in) {
    user.set_data_handle(const_cast<void*>(p));
    if (!same && in) run(to_prim, s, in_args);
  }
  void write_back(dnnl::stream& s) {
    if (!same) run(to_user, s, out_args);
  }
};

struct Entry {
  bool ok = false;  // false: oneDNN could not build this primitive; use the reference
  dnnl::primitive prim;
  Staged a, b, c;             // forward: x, w, y; backward_input: dy, w, dx; weight: x, dy, dw
  memory bias;                // forward: b; backward_weight: db's staging (plain [Cout])
  memory scratchpad;          // the primitive's scratch, owned here (none allocated per call)
  std::vector<float> dw, db;  // backward_weight: the pass's own dW, db before they are added
  std::vector<dnnl_exec_arg_t> args;
  // The argument array: a, b and c under the given names, the bias if any, the scratchpad.
  void set_args(const dnnl::primitive_desc_base& pd, int a_arg, int b_arg, int c_arg,
                int bias_arg) {
    scratchpad = memory(pd.scratchpad_desc(), cpu_engine());
    args = {{a_arg, a.used().get()}, {b_arg, b.used().get()}, {c_arg, c.used().get()}};
    if (bias) args.push_back({bias_arg, bias.get()});
    args.push_back({DNNL_ARG_SCRATCHPAD, scratchpad.get()});
  }
};

// The scratchpad is the caller's (Entry::scratchpad), so executing allocates none.
dnnl::primitive_attr user_scratchpad() {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

memory::desc plain(const memory::dims& dims, tag t) {
  return memory::desc(dims, dt::f32, t);
}
memory::desc any(const memory::dims& dims) {
  return memory::desc(dims, dt::f32, tag::any);
}

struct Shapes {
  memory::dims src, wei, bia, dst, strides, pad_l, pad_r;
  explicit Shapes(const Conv2dDims& d)
      : src{d.batch, d.in_c, d.in_h, d.in_w},
        wei{d.out_c, d.in_c, d.kh, d.kw},
        bia{d.out_c},
        dst{d.batch, d.out_c, d.out_h(), d.out_w()},
        strides{d.stride, d.stride},
        pad_l{d.pad, d.pad},
        // The right padding that makes oneDNN's output size the floor formula's.
        pad_r{(d.out_h() - 1) * d.stride + d.kh - d.in_h - d.pad,
              (d.out_w() - 1) * d.stride + d.kw - d.in_w - d.pad} {}
};

// Winograd F(4x4, 3x3) (oneDNN's jit_wino_4x3, AVX-512, channels in multiples of 16) for the
// 3x3 stride-1 convolutions from batch 2: 1.2-1.9x the direct kernels in every pass on the
// reward net's conv3 at 12x12 and 21x21, batch 8-256 (the direct ones win at batch 1). It
// rounds differently from the direct sum (tests/kernels/test_conv2d.cpp checks it against the
// double reference with the same tolerance). Shapes it does not take fall back to direct.
bool winograd_shape(const Conv2dDims& d) {
  return d.kh == 3 && d.kw == 3 && d.stride == 1 && d.batch >= 2 && d.in_c % 16 == 0 &&
         d.out_c % 16 == 0;
}

dnnl::convolution_forward::primitive_desc forward_pd(const Shapes& s, bool bias,
                                                     dnnl::algorithm alg) {
  using F = dnnl::convolution_forward;
  const auto prop = dnnl::prop_kind::forward_training;
  return bias ? F::primitive_desc(F::desc(prop, alg, any(s.src), any(s.wei), any(s.bia), any(s.dst),
                                          s.strides, s.pad_l, s.pad_r),
                                  user_scratchpad(), cpu_engine())
              : F::primitive_desc(F::desc(prop, alg, any(s.src), any(s.wei), any(s.dst), s.strides,
                                          s.pad_l, s.pad_r),
                                  user_scratchpad(), cpu_engine());
}

tag block_tag(int block) {
  return block == 16 ? tag::nChw16c : tag::nChw8c;
}

// The user's layout of an activation: NCHW, or blocked.
memory::desc activation(const memory::dims& dims, bool blocked) {
  if (!blocked) return plain(dims, tag::nchw);
  const int block = activation_block();
  RM_CHECK(block > 0 && dims[1] % block == 0,
           "oneDNN convolution: a blocked activation needs oneDNN's channel block (", block,
           ") to divide its ", dims[1], " channels");
  return plain(dims, block_tag(block));
}

void build(Entry& e, const Conv2dDims& d, Pass pass, bool bias, dnnl::algorithm alg) {
  const Shapes s(d);
  const memory::desc src = activation(s.src, d.blocked_in), wei = plain(s.wei, tag::oihw),
                     dst = activation(s.dst, d.blocked_out), bia = plain(s.bia, tag::x);
  if (pass == Pass::forward) {
    const auto pd = forward_pd(s, bias, alg);
    e.prim = dnnl::convolution_forward(pd);
    e.a.init(src, pd.src_desc(), true, false);
    e.b.init(wei, pd.weights_desc(), true, false);
    e.c.init(dst, pd.dst_desc(), false, true);
    if (bias) e.bias = memory(bia, cpu_engine(), DNNL_MEMORY_NONE);
    e.set_args(pd, DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST, DNNL_ARG_BIAS);
  } else if (pass == Pass::backward_input) {
    using B = dnnl::convolution_backward_data;
    const auto pd = B::primitive_desc(
        B::desc(alg, any(s.src), any(s.wei), any(s.dst), s.strides, s.pad_l, s.pad_r),
        user_scratchpad(), cpu_engine(), forward_pd(s, false, alg));
    e.prim = B(pd);
    e.a.init(dst, pd.diff_dst_desc(), true, false);
    e.b.init(wei, pd.weights_desc(), true, false);
    e.c.init(src, pd.diff_src_desc(), false, true);
    e.set_args(pd, DNNL_ARG_DIFF_DST, DNNL_ARG_WEIGHTS, DNNL_ARG_DIFF_SRC, 0);
  } else {
    using W = dnnl::convolution_backward_weights;
    const auto pd =
        bias ? W::primitive_desc(W::desc(alg, any(s.src), any(s.wei), any(s.bia), any(s.dst),
                                         s.strides, s.pad_l, s.pad_r),
                                 user_scratchpad(), cpu_engine(), forward_pd(s, true, alg))
             : W::primitive_desc(
                   W::desc(alg, any(s.src), any(s.wei), any(s.dst), s.strides, s.pad_l, s.pad_r),
                   user_scratchpad(), cpu_engine(), forward_pd(s, false, alg));
    e.prim = W(pd);
    e.a.init(src, pd.src_desc(), true, false);
    e.b.init(dst, pd.diff_dst_desc(), true, false);
    e.c.init(wei, pd.diff_weights_desc(), false, true);
    e.dw.resize(size_t(d.weight_size()));
    if (bias) {
      e.db.resize(size_t(d.out_c));
      e.bias = memory(bia, cpu_engine(), e.db.data());
    }
    e.set_args(pd, DNNL_ARG_SRC, DNNL_ARG_DIFF_DST, DNNL_ARG_DIFF_WEIGHTS, DNNL_ARG_DIFF_BIAS);
  }
  e.ok = true;
}

// This thread's primitive for (d, pass, bias) at its current OpenMP thread count, built on first
// use. A primitive splits its work for the thread count it was made with, so a thread that runs
// with fewer threads for a while (kernels::CpuOverlap) gets its own.
Entry& entry(const Conv2dDims& d, Pass pass, bool bias) {
  using Key = std::tuple<int, int, int, int, int, int, int, int, int, int, bool, int, bool, bool>;
  thread_local std::map<Key, std::unique_ptr<Entry>> cache;
  const Key key{d.batch,      d.in_c,       d.in_h, d.in_w,    d.out_c, d.kh,
                d.kw,         d.stride,     d.pad,  int(pass), bias,    omp_get_max_threads(),
                d.blocked_in, d.blocked_out};
  auto it = cache.find(key);
  if (it != cache.end()) return *it->second;
  auto e = std::make_unique<Entry>();
  bool built = false;
  if (winograd_shape(d)) {
    try {
      build(*e, d, pass, bias, dnnl::algorithm::convolution_winograd);
      built = true;
    } catch (const dnnl::error&) {
      e = std::make_unique<Entry>();  // no Winograd kernel for this shape or CPU
    }
  }
  if (!built) {
    try {
      build(*e, d, pass, bias, dnnl::algorithm::convolution_direct);
    } catch (const dnnl::error&) {
      e = std::make_unique<Entry>();  // no primitive for this shape: the reference serves it
    }
  }
  return *cache.emplace(key, std::move(e)).first->second;
}

dnnl::stream& cpu_stream() {
  thread_local dnnl::stream s(cpu_engine());
  return s;
}

// One call of e: reorders the inputs a and b into the primitive's layouts, runs it, and
// reorders its output into c.
void execute(Entry& e, const void* a, const void* b, void* c) {
  dnnl::stream& s = cpu_stream();
  e.a.bind(a, s, true);
  e.b.bind(b, s, true);
  e.c.bind(c, s, false);
  run(e.prim, s, e.args);
  e.c.write_back(s);
  s.wait();
}

}  // namespace

int activation_block() {
  static const int block = [] {
    try {
      // conv3 of the reward net at 48x48 frames, batch 8: a shape oneDNN's JIT kernels serve.
      const Shapes s(Conv2dDims{8, 64, 10, 10, 64, 3, 3, 1, 1});
      const auto pd = forward_pd(s, true, dnnl::algorithm::convolution_direct);
      for (int b : {16, 8})
        if (pd.src_desc() == plain(s.src, block_tag(b)) &&
            pd.dst_desc() == plain(s.dst, block_tag(b)))
          return b;
    } catch (const dnnl::error&) {
    }
    return 0;
  }();
  return block;
}

void reorder_activation(int n, int c, int h, int w, const float* src, float* dst, bool to_blocked) {
  struct Reorder {
    memory from, to;
    dnnl::reorder prim;
    std::vector<dnnl_exec_arg_t> args;
  };
  using Key = std::tuple<int, int, int, int, bool, int>;
  thread_local std::map<Key, std::unique_ptr<Reorder>> cache;
  const Key key{n, c, h, w, to_blocked, omp_get_max_threads()};
  auto it = cache.find(key);
  if (it == cache.end()) {
    const memory::dims dims{n, c, h, w};
    auto r = std::make_unique<Reorder>();
    r->from = memory(activation(dims, !to_blocked), cpu_engine(), DNNL_MEMORY_NONE);
    r->to = memory(activation(dims, to_blocked), cpu_engine(), DNNL_MEMORY_NONE);
    r->prim = dnnl::reorder(r->from, r->to);
    r->args = {{DNNL_ARG_FROM, r->from.get()}, {DNNL_ARG_TO, r->to.get()}};
    it = cache.emplace(key, std::move(r)).first;
  }
  Reorder& r = *it->second;
  r.from.set_data_handle(const_cast<float*>(src));
  r.to.set_data_handle(dst);
  dnnl::stream& s = cpu_stream();
  run(r.prim, s, r.args);
  s.wait();
}

bool forward(const Conv2dDims& d, const float* x, const float* w, const float* b, float* y) {
  // A plain (NCHW) output is written by the primitive in its own blocked layout and reordered
  // afterwards: on a large batch (the agent's stem at batch 128: 27.5 MB) the blocked copy leaves
  // the caches before the reorder reads it. Chunks of kChunk samples keep it in L2.
  constexpr int kChunk = 4;
  constexpr long kChunkAboveBytes = 4l << 20;
  if (!d.blocked_out && d.batch > kChunk &&
      long(sizeof(float)) * d.batch * d.out_size() > kChunkAboveBytes) {
    for (int b0 = 0; b0 < d.batch; b0 += kChunk) {
      Conv2dDims c = d;
      c.batch = std::min(kChunk, d.batch - b0);
      if (!forward(c, x + b0 * d.in_size(), w, b, y + b0 * d.out_size())) return false;
    }
    return true;
  }
  Entry& e = entry(d, Pass::forward, b != nullptr);
  if (!e.ok) return false;
  if (b) e.bias.set_data_handle(const_cast<float*>(b));
  execute(e, x, w, y);
  return true;
}

bool backward_input(const Conv2dDims& d, const float* dy, const float* w, float* dx) {
  Entry& e = entry(d, Pass::backward_input, false);
  if (!e.ok) return false;
  execute(e, dy, w, dx);
  return true;
}

bool backward_weight(const Conv2dDims& d, const float* x, const float* dy, float* dw, float* db) {
  Entry& e = entry(d, Pass::backward_weight, db != nullptr);
  if (!e.ok) return false;
  execute(e, x, dy, e.dw.data());
  // The contract accumulates; oneDNN overwrites.
  const long n = d.weight_size();
  for (long i = 0; i < n; ++i) dw[i] += e.dw[size_t(i)];
  if (db)
    for (int c = 0; c < d.out_c; ++c) db[c] += e.db[size_t(c)];
  return true;
}

}  // namespace relmimic::kernels::onednn
