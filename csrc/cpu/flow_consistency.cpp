// flow_consistency on the CPU: one fused pass over all frames of a batch, rows in parallel. The
// plain-PyTorch equivalent (grid + grid_sample + arithmetic) writes a dozen full-size temporaries.

#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <torch/library.h>

#include <algorithm>
#include <tuple>

#include "common/flow_consistency.h"
#include "common/warp_checks.h"

namespace lecinpaint {
namespace cpu {
namespace {

template <typename T>
void consistency_kernel(const T* ts, const T* st, T threshold, T* error, bool* valid, T* mid, int64_t N, int64_t H,
                        int64_t W) {
  const int64_t HW = H * W;
  at::parallel_for(0, N * H, std::max<int64_t>(1, 8192 / std::max<int64_t>(1, W)), [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      const int64_t n = row / H, y = row % H;
      const T* fx = ts + n * 2 * HW + y * W;
      const T* fy = fx + HW;
      const T* sx = st + n * 2 * HW;
      const T* sy = sx + HW;
      T* e = error + n * HW + y * W;
      bool* v = valid + n * HW + y * W;
      T* mx = mid + n * 2 * HW + y * W;
      T* my = mx + HW;
      for (int64_t x = 0; x < W; ++x) {
        const common::Consistency<T> c = common::consistency_at<T>(x, y, fx[x], fy[x], sx, sy, H, W, threshold);
        e[x] = c.error;
        v[x] = c.valid;
        mx[x] = c.mid_x;
        my[x] = c.mid_y;
      }
    }
  });
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> flow_consistency_cpu(const at::Tensor& flow_ts,
                                                                    const at::Tensor& flow_st, double threshold) {
  checks::check_flow_consistency(flow_ts, flow_st, threshold, c10::DeviceType::CPU);
  const int64_t N = flow_ts.size(0), H = flow_ts.size(2), W = flow_ts.size(3);
  at::Tensor error = at::empty({N, H, W}, flow_ts.options());
  at::Tensor valid = at::empty({N, H, W}, flow_ts.options().dtype(at::kBool));
  at::Tensor mid = at::empty(flow_ts.sizes(), flow_ts.options());
  if (error.numel() == 0) return {error, valid, mid};
  const at::Tensor ts_c = flow_ts.contiguous();
  const at::Tensor st_c = flow_st.contiguous();
  AT_DISPATCH_FLOATING_TYPES(flow_ts.scalar_type(), "flow_consistency_cpu", [&] {
    consistency_kernel<scalar_t>(ts_c.const_data_ptr<scalar_t>(), st_c.const_data_ptr<scalar_t>(),
                                 static_cast<scalar_t>(threshold), error.mutable_data_ptr<scalar_t>(),
                                 valid.mutable_data_ptr<bool>(), mid.mutable_data_ptr<scalar_t>(), N, H, W);
  });
  return {error, valid, mid};
}

}  // namespace

TORCH_LIBRARY_IMPL(lecinpaint, CPU, m) { m.impl("flow_consistency", &flow_consistency_cpu); }

}  // namespace cpu
}  // namespace lecinpaint
