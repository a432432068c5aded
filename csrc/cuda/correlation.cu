// CUDA entry points of lecinpaint::correlation and its backward; the kernels are in
// csrc/kernels/correlation.cuh (shared with the run-time NVRTC build) and the per-element math in
// csrc/common/correlation.h (shared with the CPU).

#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <algorithm>
#include <tuple>

#include "common/correlation_checks.h"
#include "kernels/correlation.cuh"

namespace lecinpaint {
namespace correlation {
namespace {

constexpr const char* kOp = "lecinpaint::correlation";
constexpr int kThreads = 256;  // a multiple of the warp size, as the forward kernel requires

// The shared checks plus the dtypes this backend has kernels for.
Geometry check_cuda(const at::Tensor& input1, const at::Tensor& input2, int64_t pad_size, int64_t kernel_size,
                    int64_t max_displacement, int64_t stride1, int64_t stride2) {
  const Geometry g =
      check_and_geometry(input1, input2, pad_size, kernel_size, max_displacement, stride1, stride2);
  TORCH_CHECK(input1.scalar_type() == at::kFloat || input1.scalar_type() == at::kDouble ||
                  input1.scalar_type() == at::kHalf,
              kOp, ": on CUDA input1 and input2 must be float16, float32 or float64, got ", input1.scalar_type());
  return g;
}

// Enough blocks to fill the device several times over; the kernels stride over the rest.
unsigned int blocks_for(int64_t threads_needed) {
  // Not at::cuda::getCurrentDeviceProperties: ATen/cuda/CUDAContext.h pulls in the cuBLAS/cuSPARSE
  // headers, which a plain CUDA toolkit may lack.
  int sms = 0;
  C10_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, c10::cuda::current_device()));
  const int64_t wanted = (threads_needed + kThreads - 1) / kThreads;
  return static_cast<unsigned int>(std::max<int64_t>(1, std::min<int64_t>(wanted, int64_t{sms} * 32)));
}

at::Tensor correlation_cuda(const at::Tensor& input1, const at::Tensor& input2, int64_t pad_size,
                            int64_t kernel_size, int64_t max_displacement, int64_t stride1, int64_t stride2) {
  const Geometry g =
      check_cuda(input1, input2, pad_size, kernel_size, max_displacement, stride1, stride2);
  const c10::cuda::CUDAGuard guard(input1.device());
  const int64_t N = input1.size(0);
  at::Tensor out = at::empty({N, g.D * g.D, g.outH, g.outW}, input1.options());
  if (out.numel() == 0) return out;
  if (g.C == 0) return out.zero_();
  // Channels-last, so that a warp's lanes read neighbouring channels (coalesced).
  const at::Tensor in1 = input1.permute({0, 2, 3, 1}).contiguous();
  const at::Tensor in2 = input2.permute({0, 2, 3, 1}).contiguous();
  const int64_t warps_needed = out.numel();
  AT_DISPATCH_FLOATING_TYPES_AND_HALF(input1.scalar_type(), "lecinpaint_correlation_forward", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    forward_kernel<scalar_t, acc_t><<<blocks_for(warps_needed * kWarpSize), kThreads, 0,
                                      c10::cuda::getCurrentCUDAStream()>>>(
        in1.data_ptr<scalar_t>(), in2.data_ptr<scalar_t>(), out.data_ptr<scalar_t>(), N, g.C, g.H, g.W,
        pad_size, kernel_size, max_displacement, stride1, stride2);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return out;
}

std::tuple<at::Tensor, at::Tensor> correlation_backward_cuda(const at::Tensor& grad_output,
                                                             const at::Tensor& input1, const at::Tensor& input2,
                                                             int64_t pad_size, int64_t kernel_size,
                                                             int64_t max_displacement, int64_t stride1,
                                                             int64_t stride2) {
  const Geometry g =
      check_cuda(input1, input2, pad_size, kernel_size, max_displacement, stride1, stride2);
  TORCH_CHECK(grad_output.dim() == 4 && grad_output.size(0) == input1.size(0) &&
                  grad_output.size(1) == g.D * g.D && grad_output.size(2) == g.outH &&
                  grad_output.size(3) == g.outW,
              kOp, ": grad_output must have the output's shape [", input1.size(0), ", ", g.D * g.D, ", ", g.outH,
              ", ", g.outW, "], got ", grad_output.sizes());
  TORCH_CHECK(grad_output.scalar_type() == input1.scalar_type() && grad_output.device() == input1.device(), kOp,
              ": grad_output must have the inputs' dtype and device");
  const c10::cuda::CUDAGuard guard(input1.device());
  const int64_t N = input1.size(0);
  // Computed channels-last (coalesced), returned as contiguous NCHW.
  at::Tensor grad1 = at::empty({N, g.H, g.W, g.C}, input1.options());
  at::Tensor grad2 = at::empty({N, g.H, g.W, g.C}, input2.options());
  if (grad1.numel() == 0) {
    return {grad1.permute({0, 3, 1, 2}).contiguous(), grad2.permute({0, 3, 1, 2}).contiguous()};
  }
  const at::Tensor go = grad_output.contiguous();
  const at::Tensor in1 = input1.permute({0, 2, 3, 1}).contiguous();
  const at::Tensor in2 = input2.permute({0, 2, 3, 1}).contiguous();
  const unsigned int blocks = blocks_for(grad1.numel());
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND_HALF(input1.scalar_type(), "lecinpaint_correlation_backward", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    backward_input1_kernel<scalar_t, acc_t><<<blocks, kThreads, 0, stream>>>(
        go.data_ptr<scalar_t>(), in2.data_ptr<scalar_t>(), grad1.data_ptr<scalar_t>(), N, g.C, g.H, g.W, pad_size,
        kernel_size, max_displacement, stride1, stride2);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    backward_input2_kernel<scalar_t, acc_t><<<blocks, kThreads, 0, stream>>>(
        go.data_ptr<scalar_t>(), in1.data_ptr<scalar_t>(), grad2.data_ptr<scalar_t>(), N, g.C, g.H, g.W, pad_size,
        kernel_size, max_displacement, stride1, stride2);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return {grad1.permute({0, 3, 1, 2}).contiguous(), grad2.permute({0, 3, 1, 2}).contiguous()};
}

}  // namespace
}  // namespace correlation
}  // namespace lecinpaint

TORCH_LIBRARY_IMPL(lecinpaint, CUDA, m) {
  m.impl("correlation", &lecinpaint::correlation::correlation_cuda);
  m.impl("_correlation_backward", &lecinpaint::correlation::correlation_backward_cuda);
}
