// CUDA kernels of FlowNet2's correlation layer.
//
// Self-contained (only csrc/common headers) so that the same source compiles with nvcc, included from
// csrc/cuda/correlation.cu, and with NVRTC at run time (cupy; instantiate the templates through
// name_expressions, e.g. "lecinpaint::correlation::forward_kernel<float, float>").
//
// Inputs are channels-last (N, H, W, C) and unpadded: the zero padding is a bounds check, not a copy.
// scalar_t is the storage type (float, double, or a 16-bit float type convertible to and from acc_t);
// acc_t is the accumulation type (float for half). Launch with 1-D blocks whose size is a multiple of 32.
#pragma once

#include "common/correlation.h"

namespace lecinpaint {
namespace correlation {

constexpr int kWarpSize = 32;

template <typename acc_t>
__device__ __forceinline__ acc_t warp_sum(acc_t v) {
  // Every lane of the warp takes part, so the full mask is valid.
  for (int offset = kWarpSize / 2; offset > 0; offset /= 2) {
    v += __shfl_down_sync(0xffffffffu, v, offset);
  }
  return v;
}

// out: (N, D*D, outH, outW), contiguous. One warp per (batch, output pixel, displacement): lanes split
// the channels, which are contiguous in the NHWC inputs, and the warp reduces with shuffles. Warps stride
// over the N*outH*outW*D*D work items; consecutive items share a pixel, so in1's window stays in cache.
template <typename scalar_t, typename acc_t>
__global__ void forward_kernel(const scalar_t* __restrict__ in1, const scalar_t* __restrict__ in2,
                               scalar_t* __restrict__ out, int64_t N, int64_t C, int64_t H, int64_t W,
                               int64_t pad, int64_t kernel_size, int64_t max_displacement,
                               int64_t stride1, int64_t stride2) {
  const Geometry g = make_geometry(C, H, W, pad, kernel_size, max_displacement, stride1, stride2);
  const int64_t channels = g.D * g.D;
  const int64_t plane = g.outH * g.outW;
  const int64_t items = N * plane * channels;
  const int64_t item_stride = static_cast<int64_t>(gridDim.x) * (blockDim.x / kWarpSize);
  const int lane = static_cast<int>(threadIdx.x % kWarpSize);
  const acc_t norm = normaliser<acc_t>(g);
  const int64_t item_size = g.H * g.W * g.C;

  // The loop bound is uniform across a warp, so every lane reaches the shuffles.
  for (int64_t item = static_cast<int64_t>(blockIdx.x) * (blockDim.x / kWarpSize) + threadIdx.x / kWarpSize;
       item < items; item += item_stride) {
    const int64_t ch = item % channels;
    const int64_t pixel = item / channels;  // b * plane + oy * outW + ox
    const int64_t b = pixel / plane;
    const int64_t oy = (pixel % plane) / g.outW;
    const int64_t ox = pixel % g.outW;
    acc_t partial = forward_partial<scalar_t, acc_t>(g, in1 + b * item_size, in2 + b * item_size, oy, ox,
                                                     ch, lane, kWarpSize);
    partial = warp_sum(partial);
    if (lane == 0) {
      out[(b * channels + ch) * plane + oy * g.outW + ox] = static_cast<scalar_t>(partial * norm);
    }
  }
}

// grad_in1 / grad_in2: (N, H, W, C) contiguous; grad_out: (N, D*D, outH, outW) contiguous.
// One thread per input element, channel fastest: the NHWC reads and writes coalesce and the gradient
// reads are warp-wide broadcasts. A gather, so no atomics and the result is deterministic.
template <typename scalar_t, typename acc_t>
__global__ void backward_input1_kernel(const scalar_t* __restrict__ grad_out,
                                       const scalar_t* __restrict__ in2, scalar_t* __restrict__ grad_in1,
                                       int64_t N, int64_t C, int64_t H, int64_t W, int64_t pad,
                                       int64_t kernel_size, int64_t max_displacement, int64_t stride1,
                                       int64_t stride2) {
  const Geometry g = make_geometry(C, H, W, pad, kernel_size, max_displacement, stride1, stride2);
  const int64_t total = N * g.H * g.W * g.C;
  const int64_t item_size = g.H * g.W * g.C;
  const int64_t grad_size = g.D * g.D * g.outH * g.outW;
  const acc_t norm = normaliser<acc_t>(g);
  for (int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; idx < total;
       idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t c = idx % g.C;
    const int64_t x = (idx / g.C) % g.W;
    const int64_t y = (idx / (g.C * g.W)) % g.H;
    const int64_t b = idx / item_size;
    const acc_t s = backward_input1_element<scalar_t, acc_t>(g, grad_out + b * grad_size, in2 + b * item_size,
                                                             y, x, c);
    grad_in1[idx] = static_cast<scalar_t>(s * norm);
  }
}

template <typename scalar_t, typename acc_t>
__global__ void backward_input2_kernel(const scalar_t* __restrict__ grad_out,
                                       const scalar_t* __restrict__ in1, scalar_t* __restrict__ grad_in2,
                                       int64_t N, int64_t C, int64_t H, int64_t W, int64_t pad,
                                       int64_t kernel_size, int64_t max_displacement, int64_t stride1,
                                       int64_t stride2) {
  const Geometry g = make_geometry(C, H, W, pad, kernel_size, max_displacement, stride1, stride2);
  const int64_t total = N * g.H * g.W * g.C;
  const int64_t item_size = g.H * g.W * g.C;
  const int64_t grad_size = g.D * g.D * g.outH * g.outW;
  const acc_t norm = normaliser<acc_t>(g);
  for (int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; idx < total;
       idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t c = idx % g.C;
    const int64_t x = (idx / g.C) % g.W;
    const int64_t y = (idx / (g.C * g.W)) % g.H;
    const int64_t b = idx / item_size;
    const acc_t s = backward_input2_element<scalar_t, acc_t>(g, grad_out + b * grad_size, in1 + b * item_size,
                                                             y, x, c);
    grad_in2[idx] = static_cast<scalar_t>(s * norm);
  }
}

}  // namespace correlation
}  // namespace lecinpaint
