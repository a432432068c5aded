// CUDA kernels of channelnorm. Self-contained (only csrc/common headers): nvcc and NVRTC (cupy,
// "lecinpaint::warp::channelnorm_forward_kernel<float>"). Contiguous NCHW, grid-stride, int64 indices.
#pragma once

#include "common/bilinear.h"
#include "common/channelnorm.h"

namespace lecinpaint {
namespace warp {

// One thread per pixel; neighbouring threads read neighbouring pixels of each channel plane.
template <typename T>
__global__ void channelnorm_forward_kernel(const T* __restrict__ in, T* __restrict__ out, int64_t N, int64_t C,
                                           int64_t HW) {
  const int64_t total = N * HW;
  for (int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; idx < total;
       idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t n = idx / HW, p = idx % HW;
    const T* x = in + n * C * HW + p;
    T acc = T(0);
    for (int64_t c = 0; c < C; ++c) acc += x[c * HW] * x[c * HW];
    out[idx] = common::lsqrt(acc);
  }
}

// One thread per input element.
template <typename T>
__global__ void channelnorm_backward_kernel(const T* __restrict__ grad_out, const T* __restrict__ in,
                                            const T* __restrict__ norm, T* __restrict__ grad_in, int64_t N,
                                            int64_t C, int64_t HW) {
  const int64_t total = N * C * HW;
  for (int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; idx < total;
       idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t p = idx % HW, n = idx / (C * HW);
    grad_in[idx] = common::channelnorm_grad_scale(grad_out[n * HW + p], norm[n * HW + p]) * in[idx];
  }
}

}  // namespace warp
}  // namespace lecinpaint
