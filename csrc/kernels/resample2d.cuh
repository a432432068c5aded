// CUDA kernels of resample2d (FlowNet2's warp). Self-contained (only csrc/common headers): compiled by
// nvcc from csrc/cuda/resample2d.cu and by NVRTC at run time (cupy), instantiated there through
// name_expressions such as "lecinpaint::warp::resample2d_forward_kernel<float>".
//
// All tensors are contiguous NCHW; flow is (N, 2, H, W). One thread per output pixel, grid-stride,
// int64 indices. Launch with any 1-D grid.
#pragma once

#include "common/resample2d.h"

namespace lecinpaint {
namespace warp {

template <typename T>
__global__ void resample2d_forward_kernel(const T* __restrict__ in, const T* __restrict__ flow, T* __restrict__ out,
                                          int64_t N, int64_t C, int64_t H, int64_t W) {
  const int64_t HW = H * W;
  const int64_t total = N * HW;
  for (int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; idx < total;
       idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t n = idx / HW, p = idx % HW;
    const int64_t y = p / W, x = p % W;
    const T* f = flow + n * 2 * HW + p;
    const common::BilinearTaps<T> t = common::resample2d_taps<T>(x, y, f[0], f[HW], H, W);
    for (int64_t c = 0; c < C; ++c) {
      out[(n * C + c) * HW + p] = common::bilinear_sample(in + (n * C + c) * HW, W, t);
    }
  }
}

// grad_input must be zeroed by the caller: the four taps are scattered with atomicAdd (several output
// pixels may read the same input pixel). grad_flow is written, not accumulated.
template <typename T>
__global__ void resample2d_backward_kernel(const T* __restrict__ grad_out, const T* __restrict__ in,
                                           const T* __restrict__ flow, T* __restrict__ grad_in,
                                           T* __restrict__ grad_flow, int64_t N, int64_t C, int64_t H, int64_t W) {
  const int64_t HW = H * W;
  const int64_t total = N * HW;
  for (int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; idx < total;
       idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t n = idx / HW, p = idx % HW;
    const int64_t y = p / W, x = p % W;
    const T* f = flow + n * 2 * HW + p;
    const common::BilinearTaps<T> t = common::resample2d_taps<T>(x, y, f[0], f[HW], H, W);
    const common::CornerWeights<T> w = common::corner_weights(t.wx, t.wy);
    T dx = T(0), dy = T(0);
    for (int64_t c = 0; c < C; ++c) {
      const T g = grad_out[(n * C + c) * HW + p];
      const T* plane = in + (n * C + c) * HW;
      const common::SampleGrad<T> s = common::bilinear_sample_grad(plane, W, t);
      dx += g * s.dx;
      dy += g * s.dy;
      T* gplane = grad_in + (n * C + c) * HW;
      atomicAdd(gplane + t.y0 * W + t.x0, w.w00 * g);
      atomicAdd(gplane + t.y0 * W + t.x1, w.w01 * g);
      atomicAdd(gplane + t.y1 * W + t.x0, w.w10 * g);
      atomicAdd(gplane + t.y1 * W + t.x1, w.w11 * g);
    }
    grad_flow[n * 2 * HW + p] = dx * t.gx;
    grad_flow[n * 2 * HW + HW + p] = dy * t.gy;
  }
}

}  // namespace warp
}  // namespace lecinpaint
