// resample2d on CUDA: launches csrc/kernels/resample2d.cuh on the current stream.

#include <ATen/Dispatch.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <tuple>

#include "common/warp_checks.h"
#include "cuda/launch_warp.cuh"
#include "kernels/resample2d.cuh"

namespace lecinpaint {
namespace warp {
namespace {

at::Tensor resample2d_cuda(const at::Tensor& input, const at::Tensor& flow) {
  checks::check_resample2d(input, flow, c10::DeviceType::CUDA);
  const c10::cuda::CUDAGuard guard(input.device());
  at::Tensor out = at::empty(input.sizes(), input.options());
  if (out.numel() == 0) return out;
  const at::Tensor in_c = input.contiguous();
  const at::Tensor flow_c = flow.contiguous();
  const int64_t N = input.size(0), C = input.size(1), H = input.size(2), W = input.size(3);
  AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "resample2d_cuda", [&] {
    resample2d_forward_kernel<scalar_t><<<blocks_for(N * H * W), kThreads, 0, c10::cuda::getCurrentCUDAStream()>>>(
        in_c.const_data_ptr<scalar_t>(), flow_c.const_data_ptr<scalar_t>(), out.mutable_data_ptr<scalar_t>(), N, C, H,
        W);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return out;
}

std::tuple<at::Tensor, at::Tensor> resample2d_backward_cuda(const at::Tensor& grad_output, const at::Tensor& input,
                                                            const at::Tensor& flow) {
  checks::check_resample2d(input, flow, c10::DeviceType::CUDA);
  TORCH_CHECK(grad_output.sizes() == input.sizes(), "resample2d backward: grad_output must have the shape of input ",
              input.sizes(), ", got ", grad_output.sizes());
  checks::check_same_dtype("resample2d backward", grad_output, "grad_output", input, "input");
  checks::check_same_device("resample2d backward", grad_output, "grad_output", input, "input");
  const c10::cuda::CUDAGuard guard(input.device());
  at::Tensor grad_input = at::zeros(input.sizes(), input.options());
  at::Tensor grad_flow = at::zeros(flow.sizes(), flow.options());
  if (input.numel() == 0) return {grad_input, grad_flow};
  const at::Tensor g_c = grad_output.contiguous();
  const at::Tensor in_c = input.contiguous();
  const at::Tensor flow_c = flow.contiguous();
  const int64_t N = input.size(0), C = input.size(1), H = input.size(2), W = input.size(3);
  AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "resample2d_backward_cuda", [&] {
    resample2d_backward_kernel<scalar_t><<<blocks_for(N * H * W), kThreads, 0, c10::cuda::getCurrentCUDAStream()>>>(
        g_c.const_data_ptr<scalar_t>(), in_c.const_data_ptr<scalar_t>(), flow_c.const_data_ptr<scalar_t>(),
        grad_input.mutable_data_ptr<scalar_t>(), grad_flow.mutable_data_ptr<scalar_t>(), N, C, H, W);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return {grad_input, grad_flow};
}

}  // namespace

TORCH_LIBRARY_IMPL(lecinpaint, CUDA, m) {
  m.impl("resample2d", &resample2d_cuda);
  m.impl("_resample2d_backward", &resample2d_backward_cuda);
}

}  // namespace warp
}  // namespace lecinpaint
