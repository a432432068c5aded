// resample2d on the CPU: FlowNet2's warp, out(p) = input(p + flow(p)), bilinear, border clipped.
//
// Forward: rows of all frames in parallel; per chunk of a row the taps are computed once (a
// vectorisable loop) and reused for every channel. Backward: grad_flow by rows (a gather, no races);
// grad_input by (frame, channel) planes, so that each task scatters into its own plane only.

#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>
#include <torch/library.h>

#include <algorithm>
#include <tuple>

#include "common/resample2d.h"
#include "common/warp_checks.h"

namespace lecinpaint {
namespace cpu {
namespace {

using common::BilinearTaps;

constexpr int64_t kChunk = 128;

// Enough work per task to amortise scheduling: about 16k sampled values.
inline int64_t row_grain(int64_t W, int64_t C) { return std::max<int64_t>(1, 16384 / std::max<int64_t>(1, W * C)); }

// Corner offsets and weights of up to kChunk pixels of one row.
template <typename T>
struct TapChunk {
  int64_t o00[kChunk], o01[kChunk], o10[kChunk], o11[kChunk];
  T w00[kChunk], w01[kChunk], w10[kChunk], w11[kChunk];

  void fill(const T* fx, const T* fy, int64_t x_begin, int64_t len, int64_t y, int64_t H, int64_t W) {
    for (int64_t i = 0; i < len; ++i) {
      const BilinearTaps<T> t = common::resample2d_taps<T>(x_begin + i, y, fx[i], fy[i], H, W);
      const common::CornerWeights<T> c = common::corner_weights(t.wx, t.wy);
      o00[i] = t.y0 * W + t.x0;
      o01[i] = t.y0 * W + t.x1;
      o10[i] = t.y1 * W + t.x0;
      o11[i] = t.y1 * W + t.x1;
      w00[i] = c.w00;
      w01[i] = c.w01;
      w10[i] = c.w10;
      w11[i] = c.w11;
    }
  }
};

template <typename T>
void forward_kernel(const T* in, const T* flow, T* out, int64_t N, int64_t C, int64_t H, int64_t W) {
  const int64_t HW = H * W;
  at::parallel_for(0, N * H, row_grain(W, C), [&](int64_t begin, int64_t end) {
    TapChunk<T> tc;
    for (int64_t row = begin; row < end; ++row) {
      const int64_t n = row / H, y = row % H;
      const T* fx = flow + n * 2 * HW + y * W;
      const T* fy = fx + HW;
      for (int64_t xb = 0; xb < W; xb += kChunk) {
        const int64_t len = std::min(kChunk, W - xb);
        tc.fill(fx + xb, fy + xb, xb, len, y, H, W);
        for (int64_t c = 0; c < C; ++c) {
          const T* plane = in + (n * C + c) * HW;
          T* o = out + (n * C + c) * HW + y * W + xb;
          for (int64_t i = 0; i < len; ++i) {
            o[i] = tc.w00[i] * plane[tc.o00[i]] + tc.w01[i] * plane[tc.o01[i]] + tc.w10[i] * plane[tc.o10[i]] +
                   tc.w11[i] * plane[tc.o11[i]];
          }
        }
      }
    }
  });
}

template <typename T>
void backward_flow_kernel(const T* gout, const T* in, const T* flow, T* gflow, int64_t N, int64_t C, int64_t H,
                          int64_t W) {
  const int64_t HW = H * W;
  at::parallel_for(0, N * H, row_grain(W, C), [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      const int64_t n = row / H, y = row % H;
      const T* fx = flow + n * 2 * HW + y * W;
      const T* fy = fx + HW;
      T* gx = gflow + n * 2 * HW + y * W;
      T* gy = gx + HW;
      for (int64_t x = 0; x < W; ++x) {
        const BilinearTaps<T> t = common::resample2d_taps<T>(x, y, fx[x], fy[x], H, W);
        T dx = T(0), dy = T(0);
        if (t.gx != T(0) || t.gy != T(0)) {
          for (int64_t c = 0; c < C; ++c) {
            const T g = gout[(n * C + c) * HW + y * W + x];
            const common::SampleGrad<T> s = common::bilinear_sample_grad(in + (n * C + c) * HW, W, t);
            dx += g * s.dx;
            dy += g * s.dy;
          }
        }
        gx[x] = dx * t.gx;
        gy[x] = dy * t.gy;
      }
    }
  });
}

template <typename T>
void backward_input_kernel(const T* gout, const T* flow, T* gin, int64_t N, int64_t C, int64_t H, int64_t W) {
  const int64_t HW = H * W;
  // One task per (n, c) plane: every write of a task lands in its own plane, so no atomics. Small
  // planes are grouped so that tiny inputs run inline instead of waking the thread pool.
  at::parallel_for(0, N * C, std::max<int64_t>(1, 65536 / std::max<int64_t>(1, HW)), [&](int64_t begin, int64_t end) {
    TapChunk<T> tc;
    for (int64_t nc = begin; nc < end; ++nc) {
      const int64_t n = nc / C;
      const T* g = gout + nc * HW;
      T* plane = gin + nc * HW;
      for (int64_t y = 0; y < H; ++y) {
        const T* fx = flow + n * 2 * HW + y * W;
        const T* fy = fx + HW;
        for (int64_t xb = 0; xb < W; xb += kChunk) {
          const int64_t len = std::min(kChunk, W - xb);
          tc.fill(fx + xb, fy + xb, xb, len, y, H, W);
          const T* gr = g + y * W + xb;
          for (int64_t i = 0; i < len; ++i) {
            plane[tc.o00[i]] += tc.w00[i] * gr[i];
            plane[tc.o01[i]] += tc.w01[i] * gr[i];
            plane[tc.o10[i]] += tc.w10[i] * gr[i];
            plane[tc.o11[i]] += tc.w11[i] * gr[i];
          }
        }
      }
    }
  });
}

at::Tensor resample2d_cpu(const at::Tensor& input, const at::Tensor& flow) {
  checks::check_resample2d(input, flow, c10::DeviceType::CPU);
  at::Tensor out = at::empty(input.sizes(), input.options());
  if (out.numel() == 0) return out;
  const at::Tensor in_c = input.contiguous();
  const at::Tensor flow_c = flow.contiguous();
  AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "resample2d_cpu", [&] {
    forward_kernel<scalar_t>(in_c.const_data_ptr<scalar_t>(), flow_c.const_data_ptr<scalar_t>(),
                             out.mutable_data_ptr<scalar_t>(), input.size(0), input.size(1), input.size(2),
                             input.size(3));
  });
  return out;
}

std::tuple<at::Tensor, at::Tensor> resample2d_backward_cpu(const at::Tensor& grad_output, const at::Tensor& input,
                                                           const at::Tensor& flow) {
  checks::check_resample2d(input, flow, c10::DeviceType::CPU);
  TORCH_CHECK(grad_output.sizes() == input.sizes(), "resample2d backward: grad_output must have the shape of input ",
              input.sizes(), ", got ", grad_output.sizes());
  checks::check_same_dtype("resample2d backward", grad_output, "grad_output", input, "input");
  checks::check_same_device("resample2d backward", grad_output, "grad_output", input, "input");
  at::Tensor grad_input = at::zeros(input.sizes(), input.options());
  at::Tensor grad_flow = at::zeros(flow.sizes(), flow.options());
  if (input.numel() == 0) return {grad_input, grad_flow};
  const at::Tensor g_c = grad_output.contiguous();
  const at::Tensor in_c = input.contiguous();
  const at::Tensor flow_c = flow.contiguous();
  AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "resample2d_backward_cpu", [&] {
    const int64_t N = input.size(0), C = input.size(1), H = input.size(2), W = input.size(3);
    backward_flow_kernel<scalar_t>(g_c.const_data_ptr<scalar_t>(), in_c.const_data_ptr<scalar_t>(),
                                   flow_c.const_data_ptr<scalar_t>(), grad_flow.mutable_data_ptr<scalar_t>(), N, C,
                                   H, W);
    backward_input_kernel<scalar_t>(g_c.const_data_ptr<scalar_t>(), flow_c.const_data_ptr<scalar_t>(),
                                    grad_input.mutable_data_ptr<scalar_t>(), N, C, H, W);
  });
  return {grad_input, grad_flow};
}

}  // namespace

TORCH_LIBRARY_IMPL(lecinpaint, CPU, m) {
  m.impl("resample2d", &resample2d_cpu);
  m.impl("_resample2d_backward", &resample2d_backward_cpu);
}

}  // namespace cpu
}  // namespace lecinpaint
