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

#include "kernels/correlation.cuh"

namespace lecinpaint {
namespace correlation {
namespace {

constexpr const char* kOp = "lecinpaint::correlation";
constexpr int kThreads = 256;  // a multiple of the warp size, as the forward kernel requires

Geometry check_and_geometry(const at::Tensor& input1, const at::Tensor& input2, int64_t pad_size,
                            int64_t kernel_size, int64_t max_displacement, int64_t stride1,
                            int64_t stride2) {
  TORCH_CHECK(input1.dim() == 4, kOp, ": input1 must be 4-D (N, C, H, W), got shape ", input1.sizes());
  TORCH_CHECK(input1.sizes() == input2.sizes(), kOp, ": input1 and input2 must have the same shape, got ",
              input1.sizes(), " and ", input2.sizes());
  TORCH_CHECK(input1.scalar_type() == input2.scalar_type(), kOp,
              ": input1 and input2 must have the same dtype, got ", input1.scalar_type(), " and ",
              input2.scalar_type());
  TORCH_CHECK(input1.device() == input2.device(), kOp, ": input1 and input2 must be on the same device, got ",
              input1.device(), " and ", input2.device());
  TORCH_CHECK(input1.scalar_type() == at::kFloat || input1.scalar_type() == at::kDouble ||
                  input1.scalar_type() == at::kHalf,
              kOp, ": on CUDA input1 and input2 must be float16, float32 or float64, got ", input1.scalar_type());
  TORCH_CHECK(kernel_size >= 1 && kernel_size % 2 == 1, kOp, ": kernel_size must be odd and positive, got ",
              kernel_size);
  TORCH_CHECK(pad_size >= 0, kOp, ": pad_size must be >= 0, got ", pad_size);
  TORCH_CHECK(max_displacement >= 0, kOp, ": max_displacement must be >= 0, got ", max_displacement);
  TORCH_CHECK(stride1 >= 1 && stride2 >= 1, kOp, ": stride1 and stride2 must be >= 1, got ", stride1, " and ",
              stride2);
  const Geometry g = make_geometry(input1.size(1), input1.size(2), input1.size(3), pad_size, kernel_size,
                                   max_displacement, stride1, stride2);
  TORCH_CHECK(g.outH > 0 && g.outW > 0, kOp, ": the output would be empty: input ", input1.size(2), "x",
              input1.size(3), " with pad_size ", pad_size, " is smaller than the window 2*(max_displacement + ",
              "(kernel_size-1)/2) + 1 = ", 2 * g.br + 1);
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
      check_and_geometry(input1, input2, pad_size, kernel_size, max_displacement, stride1, stride2);
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
      check_and_geometry(input1, input2, pad_size, kernel_size, max_displacement, stride1, stride2);
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
