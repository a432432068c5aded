// flow_consistency on CUDA: launches csrc/kernels/flow_consistency.cuh on the current stream.

#include <ATen/Dispatch.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <tuple>

#include "common/warp_checks.h"
#include "cuda/launch_warp.cuh"
#include "kernels/flow_consistency.cuh"

namespace lecinpaint {
namespace warp {
namespace {

std::tuple<at::Tensor, at::Tensor, at::Tensor> flow_consistency_cuda(const at::Tensor& flow_ts,
                                                                     const at::Tensor& flow_st, double threshold) {
  checks::check_flow_consistency(flow_ts, flow_st, threshold, c10::DeviceType::CUDA);
  const c10::cuda::CUDAGuard guard(flow_ts.device());
  const int64_t N = flow_ts.size(0), H = flow_ts.size(2), W = flow_ts.size(3);
  at::Tensor error = at::empty({N, H, W}, flow_ts.options());
  at::Tensor valid = at::empty({N, H, W}, flow_ts.options().dtype(at::kBool));
  at::Tensor mid = at::empty(flow_ts.sizes(), flow_ts.options());
  if (error.numel() == 0) return {error, valid, mid};
  const at::Tensor ts_c = flow_ts.contiguous();
  const at::Tensor st_c = flow_st.contiguous();
  AT_DISPATCH_FLOATING_TYPES(flow_ts.scalar_type(), "flow_consistency_cuda", [&] {
    flow_consistency_kernel<scalar_t><<<blocks_for(N * H * W), kThreads, 0, c10::cuda::getCurrentCUDAStream()>>>(
        ts_c.const_data_ptr<scalar_t>(), st_c.const_data_ptr<scalar_t>(), static_cast<scalar_t>(threshold),
        error.mutable_data_ptr<scalar_t>(), valid.mutable_data_ptr<bool>(), mid.mutable_data_ptr<scalar_t>(), N, H, W);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return {error, valid, mid};
}

}  // namespace

TORCH_LIBRARY_IMPL(lecinpaint, CUDA, m) { m.impl("flow_consistency", &flow_consistency_cuda); }

}  // namespace warp
}  // namespace lecinpaint
