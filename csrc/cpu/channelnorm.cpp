// channelnorm on the CPU: out = sqrt(sum_c x_c^2) over channels; backward g * x / (out + 1e-9).
//
// Both passes walk contiguous runs of pixels with the channel loop outside, so the inner loops are
// unit-stride and vectorise.

#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <torch/library.h>

#include <algorithm>

#include "common/bilinear.h"
#include "common/channelnorm.h"
#include "common/warp_checks.h"

namespace lecinpaint {
namespace cpu {
namespace {

constexpr int64_t kBlock = 1024;

template <typename T>
void forward_kernel(const T* in, T* out, int64_t N, int64_t C, int64_t HW) {
  const int64_t blocks = (HW + kBlock - 1) / kBlock;
  at::parallel_for(0, N * blocks, std::max<int64_t>(1, 16 / std::max<int64_t>(1, C)), [&](int64_t begin, int64_t end) {
    T acc[kBlock];
    for (int64_t job = begin; job < end; ++job) {
      const int64_t n = job / blocks, p0 = (job % blocks) * kBlock;
      const int64_t len = std::min(kBlock, HW - p0);
      for (int64_t i = 0; i < len; ++i) acc[i] = T(0);
      for (int64_t c = 0; c < C; ++c) {
        const T* x = in + (n * C + c) * HW + p0;
        for (int64_t i = 0; i < len; ++i) acc[i] += x[i] * x[i];
      }
      T* o = out + n * HW + p0;
      for (int64_t i = 0; i < len; ++i) o[i] = common::lsqrt(acc[i]);
    }
  });
}

template <typename T>
void backward_kernel(const T* gout, const T* in, const T* norm, T* gin, int64_t N, int64_t C, int64_t HW) {
  const int64_t blocks = (HW + kBlock - 1) / kBlock;
  at::parallel_for(0, N * blocks, std::max<int64_t>(1, 16 / std::max<int64_t>(1, C)), [&](int64_t begin, int64_t end) {
    T scale[kBlock];
    for (int64_t job = begin; job < end; ++job) {
      const int64_t n = job / blocks, p0 = (job % blocks) * kBlock;
      const int64_t len = std::min(kBlock, HW - p0);
      const T* g = gout + n * HW + p0;
      const T* r = norm + n * HW + p0;
      for (int64_t i = 0; i < len; ++i) scale[i] = common::channelnorm_grad_scale(g[i], r[i]);
      for (int64_t c = 0; c < C; ++c) {
        const T* x = in + (n * C + c) * HW + p0;
        T* gi = gin + (n * C + c) * HW + p0;
        for (int64_t i = 0; i < len; ++i) gi[i] = scale[i] * x[i];
      }
    }
  });
}

at::Tensor channelnorm_cpu(const at::Tensor& input) {
  checks::check_channelnorm(input, c10::DeviceType::CPU);
  at::Tensor out = at::empty({input.size(0), 1, input.size(2), input.size(3)}, input.options());
  if (out.numel() == 0) {
    return input.size(1) == 0 ? out.zero_() : out;
  }
  const at::Tensor in_c = input.contiguous();
  AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "channelnorm_cpu", [&] {
    forward_kernel<scalar_t>(in_c.const_data_ptr<scalar_t>(), out.mutable_data_ptr<scalar_t>(), input.size(0),
                             input.size(1), input.size(2) * input.size(3));
  });
  return out;
}

at::Tensor channelnorm_backward_cpu(const at::Tensor& grad_output, const at::Tensor& input, const at::Tensor& output) {
  const char* op = "channelnorm backward";
  checks::check_channelnorm(input, c10::DeviceType::CPU);
  const std::vector<int64_t> oshape = {input.size(0), 1, input.size(2), input.size(3)};
  TORCH_CHECK(grad_output.sizes() == c10::IntArrayRef(oshape) && output.sizes() == c10::IntArrayRef(oshape), op,
              ": grad_output and output must have shape ", c10::IntArrayRef(oshape), ", got ", grad_output.sizes(),
              " and ", output.sizes());
  checks::check_same_dtype(op, grad_output, "grad_output", input, "input");
  checks::check_same_dtype(op, output, "output", input, "input");
  checks::check_same_device(op, grad_output, "grad_output", input, "input");
  checks::check_same_device(op, output, "output", input, "input");
  at::Tensor grad_input = at::empty(input.sizes(), input.options());
  if (grad_input.numel() == 0) return grad_input;
  const at::Tensor g_c = grad_output.contiguous();
  const at::Tensor in_c = input.contiguous();
  const at::Tensor out_c = output.contiguous();
  AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "channelnorm_backward_cpu", [&] {
    backward_kernel<scalar_t>(g_c.const_data_ptr<scalar_t>(), in_c.const_data_ptr<scalar_t>(),
                              out_c.const_data_ptr<scalar_t>(), grad_input.mutable_data_ptr<scalar_t>(),
                              input.size(0), input.size(1), input.size(2) * input.size(3));
  });
  return grad_input;
}

}  // namespace

TORCH_LIBRARY_IMPL(lecinpaint, CPU, m) {
  m.impl("channelnorm", &channelnorm_cpu);
  m.impl("_channelnorm_backward", &channelnorm_backward_cpu);
}

}  // namespace cpu
}  // namespace lecinpaint
