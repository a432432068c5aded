// Argument checks shared by the CPU and CUDA entry points of resample2d, channelnorm, flow_warp and
// flow_consistency. Host-only (ATen): never included by kernels/*.cuh, which NVRTC compiles.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/util/Exception.h>

namespace lecinpaint {
namespace checks {

inline void check_4d(const char* op, const at::Tensor& t, const char* name) {
  TORCH_CHECK(t.dim() == 4, op, ": ", name, " must be 4-D (N, C, H, W), got shape ", t.sizes());
}

inline void check_flow(const char* op, const at::Tensor& flow, const char* name) {
  TORCH_CHECK(flow.dim() == 4 && flow.size(1) == 2, op, ": ", name,
              " must have shape (N, 2, H, W) (channel 0 = dx, channel 1 = dy), got ", flow.sizes());
  TORCH_CHECK(flow.scalar_type() == at::kFloat || flow.scalar_type() == at::kDouble, op, ": ", name,
              " must be float32 or float64, got ", flow.scalar_type());
}

// Same batch and spatial size (channels may differ).
inline void check_same_grid(const char* op, const at::Tensor& a, const char* an, const at::Tensor& b,
                            const char* bn) {
  TORCH_CHECK(a.size(0) == b.size(0) && a.size(2) == b.size(2) && a.size(3) == b.size(3), op, ": ", an,
              " and ", bn, " must have the same N, H, W, got ", a.sizes(), " and ", b.sizes());
}

inline void check_same_device(const char* op, const at::Tensor& a, const char* an, const at::Tensor& b,
                              const char* bn) {
  TORCH_CHECK(a.device() == b.device(), op, ": ", an, " and ", bn, " must be on the same device, got ",
              a.device(), " and ", b.device());
}

inline void check_same_dtype(const char* op, const at::Tensor& a, const char* an, const at::Tensor& b,
                             const char* bn) {
  TORCH_CHECK(a.scalar_type() == b.scalar_type(), op, ": ", an, " and ", bn,
              " must have the same dtype, got ", a.scalar_type(), " and ", b.scalar_type());
}

inline void check_floating(const char* op, const at::Tensor& t, const char* name) {
  TORCH_CHECK(t.scalar_type() == at::kFloat || t.scalar_type() == at::kDouble, op, ": ", name,
              " must be float32 or float64, got ", t.scalar_type());
}

inline void check_device(const char* op, const at::Tensor& t, const char* name, c10::DeviceType type) {
  TORCH_CHECK(t.device().type() == type, op, ": ", name, " must be a ", c10::DeviceTypeName(type, true),
              " tensor here, got ", t.device());
}

// resample2d(input, flow) and its backward.
inline void check_resample2d(const at::Tensor& input, const at::Tensor& flow, c10::DeviceType type) {
  const char* op = "resample2d";
  check_4d(op, input, "input");
  check_flow(op, flow, "flow");
  check_floating(op, input, "input");
  check_same_dtype(op, input, "input", flow, "flow");
  check_same_grid(op, input, "input", flow, "flow");
  check_same_device(op, input, "input", flow, "flow");
  check_device(op, input, "input", type);
}

inline void check_channelnorm(const at::Tensor& input, c10::DeviceType type) {
  const char* op = "channelnorm";
  check_4d(op, input, "input");
  check_floating(op, input, "input");
  check_device(op, input, "input", type);
}

inline void check_flow_warp(const at::Tensor& src, const at::Tensor& flow, int64_t mode, c10::DeviceType type) {
  const char* op = "flow_warp";
  TORCH_CHECK(mode == 0 || mode == 1, op, ": mode must be 0 (nearest) or 1 (bilinear), got ", mode);
  check_4d(op, src, "src");
  check_flow(op, flow, "flow");
  check_same_grid(op, src, "src", flow, "flow");
  check_same_device(op, src, "src", flow, "flow");
  check_device(op, src, "src", type);
  if (mode == 1) {
    check_floating(op, src, "src (bilinear mode)");
    check_same_dtype(op, src, "src", flow, "flow");
  } else {
    TORCH_CHECK(!src.is_complex(), op, ": complex src is not supported");
  }
}

inline void check_flow_consistency(const at::Tensor& flow_ts, const at::Tensor& flow_st, double threshold,
                                   c10::DeviceType type) {
  const char* op = "flow_consistency";
  check_flow(op, flow_ts, "flow_ts");
  check_flow(op, flow_st, "flow_st");
  check_same_dtype(op, flow_ts, "flow_ts", flow_st, "flow_st");
  check_same_grid(op, flow_ts, "flow_ts", flow_st, "flow_st");
  check_same_device(op, flow_ts, "flow_ts", flow_st, "flow_st");
  check_device(op, flow_ts, "flow_ts", type);
  TORCH_CHECK(!(threshold != threshold), op, ": threshold must not be NaN");
}

}  // namespace checks
}  // namespace lecinpaint
