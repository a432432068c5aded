// Bilinear sampling with border clamping: the per-element math of resample2d and flow_consistency.
//
// Compiled by the host compiler (CPU kernels), nvcc (CUDA kernels) and NVRTC (cupy backend), so it
// includes nothing but macros.h under NVRTC.
//
// Border policy (FlowNet2's Resample2d, equal to grid_sample(padding_mode="border", align_corners=True)):
// the sampling coordinate is clipped to [0, W-1] x [0, H-1] before interpolation. The values equal
// clamping each corner index to the border; the derivative of the clipped coordinate is 1 strictly
// inside and 0 at or beyond the border, as in grid_sample, so gradients match it too.
#pragma once

#include "common/macros.h"

#if !defined(__CUDACC_RTC__)
#include <cmath>
#endif

namespace lecinpaint {
namespace common {

// floor/rint/sqrt resolving to the CUDA builtins on the device and to <cmath> on the host. rint rounds
// half to even in the default rounding mode, as numpy's rint that DFGVI uses.
template <typename T>
LECIN_HD LECIN_INLINE T lfloor(T x) {
#if defined(__CUDA_ARCH__)
  return floor(x);
#else
  return std::floor(x);
#endif
}

template <typename T>
LECIN_HD LECIN_INLINE T lrint(T x) {
#if defined(__CUDA_ARCH__)
  return rint(x);
#else
  return std::rint(x);
#endif
}

template <typename T>
LECIN_HD LECIN_INLINE T lsqrt(T x) {
#if defined(__CUDA_ARCH__)
  return sqrt(x);
#else
  return std::sqrt(x);
#endif
}

// The four corners and weights of one bilinear sample.
template <typename T>
struct BilinearTaps {
  int64_t x0, x1, y0, y1;  // corner indices, all inside [0, W-1] x [0, H-1]
  T wx, wy;                // weights of the x1 column and the y1 row
  T gx, gy;                // d(clipped coordinate) / d(coordinate): 1 strictly inside, else 0
};

// Taps for sampling at (x, y) in pixels on an H x W grid, coordinates clipped to the border.
// NaN coordinates behave like -inf (clipped to 0): no index ever leaves the image.
template <typename T>
LECIN_HD LECIN_INLINE BilinearTaps<T> bilinear_taps(T x, T y, int64_t H, int64_t W) {
  const T xmax = static_cast<T>(W - 1);
  const T ymax = static_cast<T>(H - 1);
  const bool xin = x > T(0) && x < xmax;
  const bool yin = y > T(0) && y < ymax;
  const T xc = xin ? x : (x >= xmax ? xmax : T(0));
  const T yc = yin ? y : (y >= ymax ? ymax : T(0));
  BilinearTaps<T> t;
  // xc, yc >= 0, so truncation is floor and avoids a libm call on the host.
  t.x0 = static_cast<int64_t>(xc);
  t.y0 = static_cast<int64_t>(yc);
  t.x1 = t.x0 + 1 < W ? t.x0 + 1 : W - 1;
  t.y1 = t.y0 + 1 < H ? t.y0 + 1 : H - 1;
  t.wx = xc - static_cast<T>(t.x0);
  t.wy = yc - static_cast<T>(t.y0);
  t.gx = xin ? T(1) : T(0);
  t.gy = yin ? T(1) : T(0);
  return t;
}

// The four corner weights in grid_sample's order: (y0,x0), (y0,x1), (y1,x0), (y1,x1).
template <typename T>
struct CornerWeights {
  T w00, w01, w10, w11;
};

template <typename T>
LECIN_HD LECIN_INLINE CornerWeights<T> corner_weights(T wx, T wy) {
  CornerWeights<T> c;
  c.w00 = (T(1) - wx) * (T(1) - wy);
  c.w01 = wx * (T(1) - wy);
  c.w10 = (T(1) - wx) * wy;
  c.w11 = wx * wy;
  return c;
}

// Interpolated value of one H x W plane (row-major, row stride W) at the taps.
template <typename T>
LECIN_HD LECIN_INLINE T bilinear_sample(const T* plane, int64_t W, const BilinearTaps<T>& t) {
  const CornerWeights<T> c = corner_weights(t.wx, t.wy);
  return c.w00 * plane[t.y0 * W + t.x0] + c.w01 * plane[t.y0 * W + t.x1] +
         c.w10 * plane[t.y1 * W + t.x0] + c.w11 * plane[t.y1 * W + t.x1];
}

// d(sample)/dx and d(sample)/dy of the unclipped interpolant at the taps (multiply by gx, gy for the
// derivative with respect to the sampling coordinate).
template <typename T>
struct SampleGrad {
  T dx, dy;
};

template <typename T>
LECIN_HD LECIN_INLINE SampleGrad<T> bilinear_sample_grad(const T* plane, int64_t W, const BilinearTaps<T>& t) {
  const T v00 = plane[t.y0 * W + t.x0];
  const T v01 = plane[t.y0 * W + t.x1];
  const T v10 = plane[t.y1 * W + t.x0];
  const T v11 = plane[t.y1 * W + t.x1];
  SampleGrad<T> g;
  g.dx = (v01 - v00) * (T(1) - t.wy) + (v11 - v10) * t.wy;
  g.dy = (v10 - v00) * (T(1) - t.wx) + (v11 - v01) * t.wx;
  return g;
}

}  // namespace common
}  // namespace lecinpaint
