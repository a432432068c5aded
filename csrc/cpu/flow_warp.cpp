// flow_warp on the CPU: warped(p) = src(p + flow(p)) and the validity of each target, batched.
//
// Nearest mode copies elements bit for bit, so it dispatches on the element size and works for any
// dtype (frames as uint8, source-index maps as int64, masks as bool). Bilinear needs floating src of
// the flow's dtype. Targets of a chunk of a row are computed once and reused for every channel.

#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <torch/library.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <tuple>

#include "common/flow_warp.h"
#include "common/warp_checks.h"

namespace lecinpaint {
namespace cpu {
namespace {

using common::WarpTarget;

constexpr int64_t kChunk = 128;

inline int64_t row_grain(int64_t W, int64_t C) { return std::max<int64_t>(1, 16384 / std::max<int64_t>(1, W * C)); }

// E: an unsigned integer of the element size of src (the bits are copied, never interpreted).
template <typename E, typename F>
void nearest_kernel(const E* src, const F* flow, E* out, bool* valid, int64_t N, int64_t C, int64_t H, int64_t W) {
  const int64_t HW = H * W;
  at::parallel_for(0, N * H, row_grain(W, C), [&](int64_t begin, int64_t end) {
    int64_t off[kChunk];
    bool ok[kChunk];
    for (int64_t row = begin; row < end; ++row) {
      const int64_t n = row / H, y = row % H;
      const F* fx = flow + n * 2 * HW + y * W;
      const F* fy = fx + HW;
      bool* vrow = valid + n * HW + y * W;
      for (int64_t xb = 0; xb < W; xb += kChunk) {
        const int64_t len = std::min(kChunk, W - xb);
        for (int64_t i = 0; i < len; ++i) {
          const WarpTarget<F> t = common::nearest_target<F>(static_cast<F>(xb + i) + fx[xb + i],
                                                            static_cast<F>(y) + fy[xb + i], H, W);
          off[i] = t.y0 * W + t.x0;
          ok[i] = t.valid;
        }
        std::memcpy(vrow + xb, ok, static_cast<size_t>(len) * sizeof(bool));
        for (int64_t c = 0; c < C; ++c) {
          const E* plane = src + (n * C + c) * HW;
          E* o = out + (n * C + c) * HW + y * W + xb;
          // off is 0 for invalid targets, so the load is always in bounds.
          for (int64_t i = 0; i < len; ++i) o[i] = ok[i] ? plane[off[i]] : E(0);
        }
      }
    }
  });
}

template <typename T>
void bilinear_kernel(const T* src, const T* flow, T* out, bool* valid, int64_t N, int64_t C, int64_t H, int64_t W) {
  const int64_t HW = H * W;
  at::parallel_for(0, N * H, row_grain(W, C), [&](int64_t begin, int64_t end) {
    WarpTarget<T> tg[kChunk];
    for (int64_t row = begin; row < end; ++row) {
      const int64_t n = row / H, y = row % H;
      const T* fx = flow + n * 2 * HW + y * W;
      const T* fy = fx + HW;
      bool* vrow = valid + n * HW + y * W;
      for (int64_t xb = 0; xb < W; xb += kChunk) {
        const int64_t len = std::min(kChunk, W - xb);
        for (int64_t i = 0; i < len; ++i) {
          tg[i] = common::bilinear_target<T>(static_cast<T>(xb + i) + fx[xb + i], static_cast<T>(y) + fy[xb + i], H,
                                             W);
          vrow[xb + i] = tg[i].valid;
        }
        for (int64_t c = 0; c < C; ++c) {
          const T* plane = src + (n * C + c) * HW;
          T* o = out + (n * C + c) * HW + y * W + xb;
          for (int64_t i = 0; i < len; ++i) o[i] = tg[i].valid ? common::warp_bilinear_value(plane, W, tg[i]) : T(0);
        }
      }
    }
  });
}

template <typename E, typename F>
void nearest_as(const at::Tensor& src, const at::Tensor& flow, at::Tensor& out, at::Tensor& valid) {
  nearest_kernel(static_cast<const E*>(src.const_data_ptr()), flow.const_data_ptr<F>(),
                 static_cast<E*>(out.data_ptr()), valid.mutable_data_ptr<bool>(), src.size(0), src.size(1),
                 src.size(2), src.size(3));
}

// Nearest copies bits: dispatch on the element size, not the dtype.
template <typename F>
void nearest_by_size(const at::Tensor& src, const at::Tensor& flow, at::Tensor& out, at::Tensor& valid) {
  switch (src.element_size()) {
    case 1: nearest_as<uint8_t, F>(src, flow, out, valid); break;
    case 2: nearest_as<uint16_t, F>(src, flow, out, valid); break;
    case 4: nearest_as<uint32_t, F>(src, flow, out, valid); break;
    case 8: nearest_as<uint64_t, F>(src, flow, out, valid); break;
    default:
      TORCH_CHECK(false, "flow_warp: unsupported src element size ", src.element_size(), " (dtype ",
                  src.scalar_type(), ")");
  }
}

std::tuple<at::Tensor, at::Tensor> flow_warp_cpu(const at::Tensor& src, const at::Tensor& flow, int64_t mode) {
  checks::check_flow_warp(src, flow, mode, c10::DeviceType::CPU);
  at::Tensor out = at::empty(src.sizes(), src.options());
  at::Tensor valid = at::empty({flow.size(0), flow.size(2), flow.size(3)}, flow.options().dtype(at::kBool));
  if (valid.numel() == 0) return {out, valid};
  const at::Tensor src_c = src.contiguous();
  const at::Tensor flow_c = flow.contiguous();
  if (mode == common::kWarpNearest) {
    AT_DISPATCH_FLOATING_TYPES(flow.scalar_type(), "flow_warp_cpu",
                               [&] { nearest_by_size<scalar_t>(src_c, flow_c, out, valid); });
  } else {
    AT_DISPATCH_FLOATING_TYPES(src.scalar_type(), "flow_warp_cpu", [&] {
      bilinear_kernel<scalar_t>(src_c.const_data_ptr<scalar_t>(), flow_c.const_data_ptr<scalar_t>(),
                                out.mutable_data_ptr<scalar_t>(), valid.mutable_data_ptr<bool>(), src.size(0),
                                src.size(1), src.size(2), src.size(3));
    });
  }
  return {out, valid};
}

}  // namespace

TORCH_LIBRARY_IMPL(lecinpaint, CPU, m) { m.impl("flow_warp", &flow_warp_cpu); }

}  // namespace cpu
}  // namespace lecinpaint
