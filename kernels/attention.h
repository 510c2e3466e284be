// The relational block's attention core (embedded Gaussian, no 1/sqrt(d) scaling):
//   S = theta^T phi            [N, N] per sample   (S_ij = sum_c theta[c,i] phi[c,j])
//   A = softmax_rows(S)        [N, N]
//   y[c, i] = sum_j A_ij g[c, j]
// theta, phi, g, y are [B, C', N] (the 1x1 convs' NCHW outputs with N = H*W).
// attn is [B, N, N], written by forward and read by the backward passes.
#pragma once

namespace relmimic::kernels {

struct AttentionDims {
  int batch = 1, channels = 1, positions = 1;                     // B, C', N
  long qkv_size() const { return long(channels) * positions; }    // per sample
  long attn_size() const { return long(positions) * positions; }  // per sample
};

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

}  // namespace relmimic::kernels
