// Argument checks shared by the CPU and CUDA entry points of correlation and its backward.
// Host-only (ATen): never included by kernels/*.cuh, which NVRTC compiles.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/util/Exception.h>

#include "common/correlation.h"

namespace lecinpaint {
namespace correlation {

constexpr const char* kCheckOp = "lecinpaint::correlation";

// Checks shapes, dtypes, devices and parameters (messages name the op) and returns the geometry.
// Which dtypes a backend supports is checked by that backend.
inline Geometry check_and_geometry(const at::Tensor& input1, const at::Tensor& input2, int64_t pad_size,
                                   int64_t kernel_size, int64_t max_displacement, int64_t stride1,
                                   int64_t stride2) {
  TORCH_CHECK(input1.dim() == 4, kCheckOp, ": input1 must be 4-D (N, C, H, W), got shape ", input1.sizes());
  TORCH_CHECK(input1.sizes() == input2.sizes(), kCheckOp, ": input1 and input2 must have the same shape, got ",
              input1.sizes(), " and ", input2.sizes());
  TORCH_CHECK(input1.scalar_type() == input2.scalar_type(), kCheckOp,
              ": input1 and input2 must have the same dtype, got ", input1.scalar_type(), " and ",
              input2.scalar_type());
  TORCH_CHECK(input1.device() == input2.device(), kCheckOp, ": input1 and input2 must be on the same device, got ",
              input1.device(), " and ", input2.device());
  TORCH_CHECK(kernel_size >= 1 && kernel_size % 2 == 1, kCheckOp, ": kernel_size must be odd and positive, got ",
              kernel_size);
  TORCH_CHECK(pad_size >= 0, kCheckOp, ": pad_size must be >= 0, got ", pad_size);
  TORCH_CHECK(max_displacement >= 0, kCheckOp, ": max_displacement must be >= 0, got ", max_displacement);
  TORCH_CHECK(stride1 >= 1 && stride2 >= 1, kCheckOp, ": stride1 and stride2 must be >= 1, got ", stride1, " and ",
              stride2);
  const Geometry g = make_geometry(input1.size(1), input1.size(2), input1.size(3), pad_size, kernel_size,
                                   max_displacement, stride1, stride2);
  TORCH_CHECK(g.outH > 0 && g.outW > 0, kCheckOp, ": the output would be empty: input ", input1.size(2), "x",
              input1.size(3), " with pad_size ", pad_size, " is smaller than the window 2*(max_displacement + ",
              "(kernel_size-1)/2) + 1 = ", 2 * g.br + 1);
  return g;
}

}  // namespace correlation
}  // namespace lecinpaint
