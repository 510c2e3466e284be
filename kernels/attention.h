// The relational block's attention core (embedded Gaussian, no 1/sqrt(d) scaling):
//   S = theta^T phi            [N, N] per sample   (S_ij = sum_c theta[c,i] phi[c,j])
//   A = softmax_rows(S)        [N, N]
//   y[c, i] = sum_j A_ij g[c, j]
// theta, phi, g, y are [B, C', N] (the 1x1 convs' NCHW outputs with N = H*W).
// attn is [B, N, N], written by forward and read by the backward passes.
#pragma once

#include "kernels/cuda_types.h"

namespace relmimic::kernels {

struct AttentionDims {
  int batch = 1, channels = 1, positions = 1;                     // B, C', N
  long qkv_size() const { return long(channels) * positions; }    // per sample
  long attn_size() const { return long(positions) * positions; }  // per sample
};

// Throws naming `who` unless the dimensions are positive and N * N fits an int; both backends
// check with it.
void check_attention_dims(const AttentionDims& d, const char* who);

// From this many positions the CPU passes make the N x N products of rank C' four rows at a
// time (kernels/attention_cpu.cpp); below it each is one GEMM.
constexpr int kAttentionRowScoresMinPositions = 256;
namespace detail {  // for the tests: moves that threshold, returns the previous one
int set_attention_row_scores_min_positions(int n);
}  // namespace detail

template <class T>
void attention_forward_cpu(const AttentionDims& d, const T* theta, const T* phi, const T* g, T* y,
                           T* attn);

// Overwrites dtheta, dphi, dg.
template <class T>
void attention_backward_cpu(const AttentionDims& d, const T* theta, const T* phi, const T* g,
                            const T* attn, const T* dy, T* dtheta, T* dphi, T* dg);

// Forward-mode tangent (JVP) with input tangents t_theta, t_phi, t_g:
//   S' = t_theta^T phi + theta^T t_phi,  A' = A (.) (S' - rowsum(A (.) S')),  y' = g A'^T + t_g
//   A^T.
// Writes t_y and saves S' into s_dot [B, N, N] for attention_backward_jvp_cpu.
template <class T>
void attention_jvp_cpu(const AttentionDims& d, const T* theta, const T* phi, const T* g,
                       const T* attn, const T* t_theta, const T* t_phi, const T* t_g, T* t_y,
                       T* s_dot);

// Reverse mode through (forward, jvp) together: given dy (grad of y) and dt_y (grad of t_y),
// overwrites the gradients of all six inputs theta, phi, g, t_theta, t_phi, t_g.
template <class T>
void attention_backward_jvp_cpu(const AttentionDims& d, const T* theta, const T* phi, const T* g,
                                const T* attn, const T* t_theta, const T* t_phi, const T* t_g,
                                const T* s_dot, const T* dy, const T* dt_y, T* dtheta, T* dphi,
                                T* dg, T* dt_theta, T* dt_phi, T* dt_g);

// ---------------------------------------------------------------------------------------------
// CUDA (device pointers, queued on `stream`). Two implementations of the first-order passes:
//   Fused    flash-style: one kernel per pass, online softmax; the N x N scores live only in
//            registers. Forward saves the row log-sum-exp lse [B, N]; backward recomputes
//            A_ij = exp(S_ij - lse_i) tile by tile and uses D_i = sum_c dy[c,i] y[c,i]
//            (FlashAttention-2). C' <= kAttentionFusedMaxChannels.
//   Unfused  the cuBLAS baseline: batched GEMMs and row kernels over materialised [B, N, N]
//            matrices, the CPU reference's algorithm on the device. Any C'.
// The second-order passes (discriminator only) are unfused.
enum class AttentionPath { Fused, Unfused };
const char* attention_path_name(AttentionPath p);

constexpr int kAttentionFusedMaxChannels = 32;  // register tiles of the fused kernels

// y [B, C', N] and lse [B, N] = log sum_j exp(S_ij), written by both paths. The unfused path
// also writes attn [B, N, N] = A; the fused path never touches attn (null allowed).
template <class T>
void attention_forward_cuda(AttentionPath path, const AttentionDims& d, const T* theta,
                            const T* phi, const T* g, T* y, T* lse, T* attn,
                            Stream stream = nullptr);

// Overwrites dtheta, dphi, dg [B, C', N].
//   Fused    reads y and lse of the forward; attn and work unused (null allowed).
//   Unfused  reads attn; work is [B, N, N] scratch; y and lse unused (null allowed).
template <class T>
void attention_backward_cuda(AttentionPath path, const AttentionDims& d, const T* theta,
                             const T* phi, const T* g, const T* y, const T* lse, const T* attn,
                             const T* dy, T* dtheta, T* dphi, T* dg, T* work,
                             Stream stream = nullptr);

// attn [B, N, N] = exp(theta^T phi - lse): A after a fused forward, for the second-order passes.
template <class T>
void attention_probs_cuda(const AttentionDims& d, const T* theta, const T* phi, const T* lse,
                          T* attn, Stream stream = nullptr);

// attention_jvp_cpu on the device; work is [B, N, N] scratch.
template <class T>
void attention_jvp_cuda(const AttentionDims& d, const T* theta, const T* phi, const T* g,
                        const T* attn, const T* t_theta, const T* t_phi, const T* t_g, T* t_y,
                        T* s_dot, T* work, Stream stream = nullptr);

// attention_backward_jvp_cpu on the device; work is [3, B, N, N] scratch.
template <class T>
void attention_backward_jvp_cuda(const AttentionDims& d, const T* theta, const T* phi, const T* g,
                                 const T* attn, const T* t_theta, const T* t_phi, const T* t_g,
                                 const T* s_dot, const T* dy, const T* dt_y, T* dtheta, T* dphi,
                                 T* dg, T* dt_theta, T* dt_phi, T* dt_g, T* work,
                                 Stream stream = nullptr);

}  // namespace relmimic::kernels
