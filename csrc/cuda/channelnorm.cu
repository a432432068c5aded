// channelnorm on CUDA: launches csrc/kernels/channelnorm.cuh on the current stream.

#include <ATen/Dispatch.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <vector>

#include "common/warp_checks.h"
#include "cuda/launch_warp.cuh"
#include "kernels/channelnorm.cuh"

namespace lecinpaint {
namespace warp {
namespace {

at::Tensor channelnorm_cuda(const at::Tensor& input) {
  checks::check_channelnorm(input, c10::DeviceType::CUDA);
  const c10::cuda::CUDAGuard guard(input.device());
  at::Tensor out = at::empty({input.size(0), 1, input.size(2), input.size(3)}, input.options());
  if (out.numel() == 0) return out;
  if (input.size(1) == 0) return out.zero_();
  const at::Tensor in_c = input.contiguous();
  const int64_t N = input.size(0), C = input.size(1), HW = input.size(2) * input.size(3);
  AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "channelnorm_cuda", [&] {
    channelnorm_forward_kernel<scalar_t><<<blocks_for(N * HW), kThreads, 0, c10::cuda::getCurrentCUDAStream()>>>(
        in_c.const_data_ptr<scalar_t>(), out.mutable_data_ptr<scalar_t>(), N, C, HW);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return out;
}

at::Tensor channelnorm_backward_cuda(const at::Tensor& grad_output, const at::Tensor& input, const at::Tensor& output) {
  const char* op = "channelnorm backward";
  checks::check_channelnorm(input, c10::DeviceType::CUDA);
  const std::vector<int64_t> oshape = {input.size(0), 1, input.size(2), input.size(3)};
  TORCH_CHECK(grad_output.sizes() == c10::IntArrayRef(oshape) && output.sizes() == c10::IntArrayRef(oshape), op,
              ": grad_output and output must have shape ", c10::IntArrayRef(oshape), ", got ", grad_output.sizes(),
              " and ", output.sizes());
  checks::check_same_dtype(op, grad_output, "grad_output", input, "input");
  checks::check_same_dtype(op, output, "output", input, "input");
  checks::check_same_device(op, grad_output, "grad_output", input, "input");
  checks::check_same_device(op, output, "output", input, "input");
  const c10::cuda::CUDAGuard guard(input.device());
  at::Tensor grad_input = at::empty(input.sizes(), input.options());
  if (grad_input.numel() == 0) return grad_input;
  const at::Tensor g_c = grad_output.contiguous();
  const at::Tensor in_c = input.contiguous();
  const at::Tensor out_c = output.contiguous();
  const int64_t N = input.size(0), C = input.size(1), HW = input.size(2) * input.size(3);
  AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "channelnorm_backward_cuda", [&] {
    channelnorm_backward_kernel<scalar_t><<<blocks_for(N * C * HW), kThreads, 0, c10::cuda::getCurrentCUDAStream()>>>(
        g_c.const_data_ptr<scalar_t>(), in_c.const_data_ptr<scalar_t>(), out_c.const_data_ptr<scalar_t>(),
        grad_input.mutable_data_ptr<scalar_t>(), N, C, HW);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return grad_input;
}

}  // namespace

TORCH_LIBRARY_IMPL(lecinpaint, CUDA, m) {
  m.impl("channelnorm", &channelnorm_cuda);
  m.impl("_channelnorm_backward", &channelnorm_backward_cuda);
}

}  // namespace warp
}  // namespace lecinpaint
