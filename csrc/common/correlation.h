// Per-element math of FlowNet2's correlation layer, shared by the CPU kernels, the CUDA kernels
// (csrc/kernels/correlation.cuh) and the run-time NVRTC build of those kernels (cupy).
//
// Semantics (the spec is ../docs and lecinpaint/ops/correlation.py):
//   kr = (kernel_size-1)/2, br = kr + max_displacement, R = max_displacement / stride2, D = 2R+1
//   outH = ceil((H + 2*pad - 2*br) / stride1)                         (outW likewise)
//   out[b, (j+R)*D + (i+R), oy, ox] = 1/(kernel_size^2 * C) * sum_c sum_{dy,dx in [-kr, kr]}
//       P1[b, c, Y+dy, X+dx] * P2[b, c, Y+j*stride2+dy, X+i*stride2+dx]
//   P = input zero-padded by pad, Y = oy*stride1 + br, X = ox*stride1 + br.
//
// Coordinates called "padded" are in P's frame; an input pixel (y, x) is at padded (y+pad, x+pad).
// The element functions read channels-last (NHWC) inputs of one batch item, so that neighbouring CUDA
// lanes (and CPU SIMD lanes) read neighbouring channels. Everything is int64: a batch of large feature
// maps overflows int32 element offsets.
//
// Self-contained on purpose: under NVRTC there is no standard library and no ATen.
#pragma once

#include "common/macros.h"

namespace lecinpaint {
namespace correlation {

// The sizes and parameters of one correlation call, all derived quantities included.
struct Geometry {
  int64_t C, H, W;            // input channels and spatial size (both inputs alike)
  int64_t pad, kr, md;        // pad_size, (kernel_size-1)/2, max_displacement
  int64_t s1, s2;             // stride1 (output grid), stride2 (displacement grid)
  int64_t R, D;               // displacement radius in steps of stride2, D = 2R+1
  int64_t br;                 // border: kr + md
  int64_t outH, outW;         // output spatial size
};

// ceil((size + 2*pad - 2*br) / stride1); <= 0 means the input is too small for these parameters.
LECIN_HD LECIN_INLINE int64_t output_size(int64_t size, int64_t pad, int64_t kernel_size,
                                          int64_t max_displacement, int64_t stride1) {
  const int64_t span = size + 2 * pad - 2 * ((kernel_size - 1) / 2 + max_displacement);
  if (span <= 0) return span;  // callers reject this; avoid rounding it towards a positive size
  return (span + stride1 - 1) / stride1;
}

LECIN_HD LECIN_INLINE Geometry make_geometry(int64_t C, int64_t H, int64_t W, int64_t pad,
                                             int64_t kernel_size, int64_t max_displacement,
                                             int64_t stride1, int64_t stride2) {
  Geometry g;
  g.C = C;
  g.H = H;
  g.W = W;
  g.pad = pad;
  g.kr = (kernel_size - 1) / 2;
  g.md = max_displacement;
  g.s1 = stride1;
  g.s2 = stride2;
  g.R = max_displacement / stride2;
  g.D = 2 * g.R + 1;
  g.br = g.kr + max_displacement;
  g.outH = output_size(H, pad, kernel_size, max_displacement, stride1);
  g.outW = output_size(W, pad, kernel_size, max_displacement, stride1);
  return g;
}

// Output channel -> displacement offsets (in padded pixels) of the second input; dy-major.
LECIN_HD LECIN_INLINE void displacement(const Geometry& g, int64_t ch, int64_t* off_y, int64_t* off_x) {
  *off_y = (ch / g.D - g.R) * g.s2;
  *off_x = (ch % g.D - g.R) * g.s2;
}

// Output pixel -> window centre in padded coordinates.
LECIN_HD LECIN_INLINE int64_t centre(const Geometry& g, int64_t o) { return o * g.s1 + g.br; }

// Inverse of centre(): the output index whose window centre is the padded coordinate p, or -1 when
// p is not on the stride1 grid or the index lies outside [0, n).
LECIN_HD LECIN_INLINE int64_t output_index(const Geometry& g, int64_t p, int64_t n) {
  const int64_t q = p - g.br;
  if (q < 0 || q % g.s1 != 0) return -1;
  const int64_t o = q / g.s1;
  return o < n ? o : -1;
}

// 1 / (kernel_size^2 * C), the normalisation of every output element.
template <typename acc_t>
LECIN_HD LECIN_INLINE acc_t normaliser(const Geometry& g) {
  const int64_t k = 2 * g.kr + 1;
  return acc_t(1) / static_cast<acc_t>(k * k * g.C);
}

// Offset of the channel vector at padded (yp, xp) in one NHWC batch item, or -1 inside the padding.
LECIN_HD LECIN_INLINE int64_t pixel_offset(const Geometry& g, int64_t yp, int64_t xp) {
  const int64_t y = yp - g.pad;
  const int64_t x = xp - g.pad;
  if (y < 0 || y >= g.H || x < 0 || x >= g.W) return -1;
  return (y * g.W + x) * g.C;
}

// Unnormalised forward partial sum for one output element (oy, ox, ch) over the channels
// c = c_begin, c_begin + c_step, ... and every window tap. in1/in2: one batch item, NHWC.
// CUDA lanes call it with (lane, 32) and reduce across the warp; a serial caller uses (0, 1).
template <typename scalar_t, typename acc_t>
LECIN_HD LECIN_INLINE acc_t forward_partial(const Geometry& g, const scalar_t* in1, const scalar_t* in2,
                                            int64_t oy, int64_t ox, int64_t ch, int64_t c_begin,
                                            int64_t c_step) {
  int64_t off_y, off_x;
  displacement(g, ch, &off_y, &off_x);
  const int64_t Y = centre(g, oy);
  const int64_t X = centre(g, ox);
  acc_t sum = acc_t(0);
  for (int64_t dy = -g.kr; dy <= g.kr; ++dy) {
    for (int64_t dx = -g.kr; dx <= g.kr; ++dx) {
      const int64_t o1 = pixel_offset(g, Y + dy, X + dx);
      const int64_t o2 = pixel_offset(g, Y + off_y + dy, X + off_x + dx);
      if (o1 < 0 || o2 < 0) continue;  // a zero-padded tap contributes nothing
      for (int64_t c = c_begin; c < g.C; c += c_step) {
        sum += static_cast<acc_t>(in1[o1 + c]) * static_cast<acc_t>(in2[o2 + c]);
      }
    }
  }
  return sum;
}

// Unnormalised gradient w.r.t. input1 at input pixel (y, x), channel c, of one batch item.
// grad: that item's (D*D, outH, outW) output gradient; in2: that item's NHWC second input.
// Gather form (no atomics): P1 at padded p = (Y+dy, X+dx) meets P2 at p + displacement, for every tap
// whose window centre p - (dy, dx) lies on the output grid.
template <typename scalar_t, typename acc_t>
LECIN_HD LECIN_INLINE acc_t backward_input1_element(const Geometry& g, const scalar_t* grad,
                                                    const scalar_t* in2, int64_t y, int64_t x,
                                                    int64_t c) {
  const int64_t yp = y + g.pad;
  const int64_t xp = x + g.pad;
  const int64_t plane = g.outH * g.outW;
  acc_t sum = acc_t(0);
  for (int64_t dy = -g.kr; dy <= g.kr; ++dy) {
    const int64_t oy = output_index(g, yp - dy, g.outH);
    if (oy < 0) continue;
    for (int64_t dx = -g.kr; dx <= g.kr; ++dx) {
      const int64_t ox = output_index(g, xp - dx, g.outW);
      if (ox < 0) continue;
      const scalar_t* grad_pixel = grad + oy * g.outW + ox;
      for (int64_t ch = 0; ch < g.D * g.D; ++ch) {
        int64_t off_y, off_x;
        displacement(g, ch, &off_y, &off_x);
        const int64_t o2 = pixel_offset(g, yp + off_y, xp + off_x);
        if (o2 < 0) continue;
        sum += static_cast<acc_t>(grad_pixel[ch * plane]) * static_cast<acc_t>(in2[o2 + c]);
      }
    }
  }
  return sum;
}

// Unnormalised gradient w.r.t. input2 at input pixel (y, x), channel c, of one batch item.
// P2 at padded q is read by the output (oy, ox, ch) and tap (dy, dx) with q = centre + tap + displacement,
// where it meets P1 at q - displacement.
template <typename scalar_t, typename acc_t>
LECIN_HD LECIN_INLINE acc_t backward_input2_element(const Geometry& g, const scalar_t* grad,
                                                    const scalar_t* in1, int64_t y, int64_t x,
                                                    int64_t c) {
  const int64_t yp = y + g.pad;
  const int64_t xp = x + g.pad;
  acc_t sum = acc_t(0);
  for (int64_t ch = 0; ch < g.D * g.D; ++ch) {
    int64_t off_y, off_x;
    displacement(g, ch, &off_y, &off_x);
    const int64_t o1 = pixel_offset(g, yp - off_y, xp - off_x);
    if (o1 < 0) continue;
    const acc_t v1 = static_cast<acc_t>(in1[o1 + c]);
    for (int64_t dy = -g.kr; dy <= g.kr; ++dy) {
      const int64_t oy = output_index(g, yp - off_y - dy, g.outH);
      if (oy < 0) continue;
      for (int64_t dx = -g.kr; dx <= g.kr; ++dx) {
        const int64_t ox = output_index(g, xp - off_x - dx, g.outW);
        if (ox < 0) continue;
        sum += static_cast<acc_t>(grad[(ch * g.outH + oy) * g.outW + ox]) * v1;
      }
    }
  }
  return sum;
}

}  // namespace correlation
}  // namespace lecinpaint
