// CUDA kernels of flow_warp. Self-contained (only csrc/common headers): nvcc and NVRTC (cupy,
// "lecinpaint::warp::flow_warp_nearest_kernel<unsigned char, float>"). Contiguous NCHW src, (N, 2, H, W)
// flow, (N, H, W) bool valid; one thread per pixel, grid-stride, int64 indices.
#pragma once

#include "common/flow_warp.h"

namespace lecinpaint {
namespace warp {

// E: an unsigned integer of src's element size; nearest copies bits and never interprets them.
template <typename E, typename F>
__global__ void flow_warp_nearest_kernel(const E* __restrict__ src, const F* __restrict__ flow, E* __restrict__ out,
                                         bool* __restrict__ valid, int64_t N, int64_t C, int64_t H, int64_t W) {
  const int64_t HW = H * W;
  const int64_t total = N * HW;
  for (int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; idx < total;
       idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t n = idx / HW, p = idx % HW;
    const int64_t y = p / W, x = p % W;
    const F* f = flow + n * 2 * HW + p;
    const common::WarpTarget<F> t =
        common::nearest_target<F>(static_cast<F>(x) + f[0], static_cast<F>(y) + f[HW], H, W);
    valid[idx] = t.valid;
    const int64_t off = t.y0 * W + t.x0;
    for (int64_t c = 0; c < C; ++c) {
      out[(n * C + c) * HW + p] = t.valid ? src[(n * C + c) * HW + off] : E(0);
    }
  }
}

template <typename T>
__global__ void flow_warp_bilinear_kernel(const T* __restrict__ src, const T* __restrict__ flow, T* __restrict__ out,
                                          bool* __restrict__ valid, int64_t N, int64_t C, int64_t H, int64_t W) {
  const int64_t HW = H * W;
  const int64_t total = N * HW;
  for (int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; idx < total;
       idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t n = idx / HW, p = idx % HW;
    const int64_t y = p / W, x = p % W;
    const T* f = flow + n * 2 * HW + p;
    const common::WarpTarget<T> t =
        common::bilinear_target<T>(static_cast<T>(x) + f[0], static_cast<T>(y) + f[HW], H, W);
    valid[idx] = t.valid;
    for (int64_t c = 0; c < C; ++c) {
      out[(n * C + c) * HW + p] = t.valid ? common::warp_bilinear_value(src + (n * C + c) * HW, W, t) : T(0);
    }
  }
}

}  // namespace warp
}  // namespace lecinpaint
