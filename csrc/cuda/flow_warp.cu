// flow_warp on CUDA: launches csrc/kernels/flow_warp.cuh on the current stream.

#include <ATen/Dispatch.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <cstdint>
#include <tuple>

#include "common/warp_checks.h"
#include "cuda/launch_warp.cuh"
#include "kernels/flow_warp.cuh"

namespace lecinpaint {
namespace warp {
namespace {

template <typename E, typename F>
void launch_nearest(const at::Tensor& src, const at::Tensor& flow, at::Tensor& out, at::Tensor& valid) {
  const int64_t N = src.size(0), C = src.size(1), H = src.size(2), W = src.size(3);
  flow_warp_nearest_kernel<E, F><<<blocks_for(N * H * W), kThreads, 0, c10::cuda::getCurrentCUDAStream()>>>(
      static_cast<const E*>(src.const_data_ptr()), flow.const_data_ptr<F>(), static_cast<E*>(out.data_ptr()),
      valid.mutable_data_ptr<bool>(), N, C, H, W);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

std::tuple<at::Tensor, at::Tensor> flow_warp_cuda(const at::Tensor& src, const at::Tensor& flow, int64_t mode) {
  checks::check_flow_warp(src, flow, mode, c10::DeviceType::CUDA);
  const c10::cuda::CUDAGuard guard(src.device());
  at::Tensor out = at::empty(src.sizes(), src.options());
  at::Tensor valid = at::empty({flow.size(0), flow.size(2), flow.size(3)}, flow.options().dtype(at::kBool));
  if (valid.numel() == 0) return {out, valid};
  const at::Tensor src_c = src.contiguous();
  const at::Tensor flow_c = flow.contiguous();
  if (mode == common::kWarpNearest) {
    AT_DISPATCH_FLOATING_TYPES(flow.scalar_type(), "flow_warp_cuda", [&] {
      // Nearest copies bits: dispatch on the element size, not the dtype.
      switch (src.element_size()) {
        case 1: launch_nearest<uint8_t, scalar_t>(src_c, flow_c, out, valid); break;
        case 2: launch_nearest<uint16_t, scalar_t>(src_c, flow_c, out, valid); break;
        case 4: launch_nearest<uint32_t, scalar_t>(src_c, flow_c, out, valid); break;
        case 8: launch_nearest<uint64_t, scalar_t>(src_c, flow_c, out, valid); break;
        default:
          TORCH_CHECK(false, "flow_warp: unsupported src element size ", src.element_size(), " (dtype ",
                      src.scalar_type(), ")");
      }
    });
  } else {
    const int64_t N = src.size(0), C = src.size(1), H = src.size(2), W = src.size(3);
    AT_DISPATCH_FLOATING_TYPES(src.scalar_type(), "flow_warp_cuda", [&] {
      flow_warp_bilinear_kernel<scalar_t><<<blocks_for(N * H * W), kThreads, 0, c10::cuda::getCurrentCUDAStream()>>>(
          src_c.const_data_ptr<scalar_t>(), flow_c.const_data_ptr<scalar_t>(), out.mutable_data_ptr<scalar_t>(),
          valid.mutable_data_ptr<bool>(), N, C, H, W);
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    });
  }
  return {out, valid};
}

}  // namespace

TORCH_LIBRARY_IMPL(lecinpaint, CUDA, m) { m.impl("flow_warp", &flow_warp_cuda); }

}  // namespace warp
}  // namespace lecinpaint
