// CUDA kernel of flow_consistency. Self-contained (only csrc/common headers): nvcc and NVRTC (cupy,
// "lecinpaint::warp::flow_consistency_kernel<float>"). Contiguous (N, 2, H, W) flows; error and valid
// (N, H, W), mid (N, 2, H, W). One thread per pixel, grid-stride, int64 indices.
#pragma once

#include "common/flow_consistency.h"

namespace lecinpaint {
namespace warp {

template <typename T>
__global__ void flow_consistency_kernel(const T* __restrict__ flow_ts, const T* __restrict__ flow_st, T threshold,
                                        T* __restrict__ error, bool* __restrict__ valid, T* __restrict__ mid,
                                        int64_t N, int64_t H, int64_t W) {
  const int64_t HW = H * W;
  const int64_t total = N * HW;
  for (int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; idx < total;
       idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t n = idx / HW, p = idx % HW;
    const int64_t y = p / W, x = p % W;
    const T* f = flow_ts + n * 2 * HW + p;
    const T* st = flow_st + n * 2 * HW;
    const common::Consistency<T> c = common::consistency_at<T>(x, y, f[0], f[HW], st, st + HW, H, W, threshold);
    error[idx] = c.error;
    valid[idx] = c.valid;
    mid[n * 2 * HW + p] = c.mid_x;
    mid[n * 2 * HW + HW + p] = c.mid_y;
  }
}

}  // namespace warp
}  // namespace lecinpaint
