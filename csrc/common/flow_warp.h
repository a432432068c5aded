// flow_warp: the propagation warp, warped(p) = src(p + flow(p)), with the validity of each target.
//
// nearest (mode 0): (r, c) = (rint(y), rint(x)), round half to even as DFGVI; valid iff
//   0 <= r < H-1 and 0 <= c < W-1 (DFGVI's test: it also rejects the last row and column).
// bilinear (mode 1): valid iff floor(y) in [0, H-2] and floor(x) in [0, W-2], i.e. all four taps are
//   inside the image (the same test as flow_consistency's `inside`); no clamping is ever needed.
// Invalid targets give 0. The comparisons run in floating point before any integer conversion, so
// NaN and huge flows are invalid and never produce an out-of-range index.
#pragma once

#include "common/bilinear.h"

namespace lecinpaint {
namespace common {

enum WarpMode : int { kWarpNearest = 0, kWarpBilinear = 1 };

template <typename T>
struct WarpTarget {
  int64_t x0, y0;  // nearest: the pixel; bilinear: the top-left tap (0 when invalid)
  T wx, wy;        // bilinear weights of x0+1 and y0+1 (0 for nearest or invalid)
  bool valid;
};

template <typename T>
LECIN_HD LECIN_INLINE WarpTarget<T> nearest_target(T x, T y, int64_t H, int64_t W) {
  const T rx = lrint(x);
  const T ry = lrint(y);
  WarpTarget<T> t;
  t.valid = rx >= T(0) && rx < static_cast<T>(W - 1) && ry >= T(0) && ry < static_cast<T>(H - 1);
  t.x0 = t.valid ? static_cast<int64_t>(rx) : 0;
  t.y0 = t.valid ? static_cast<int64_t>(ry) : 0;
  t.wx = T(0);
  t.wy = T(0);
  return t;
}

// True when floor(x) in [0, W-2] and floor(y) in [0, H-2].
template <typename T>
LECIN_HD LECIN_INLINE bool bilinear_inside(T x, T y, int64_t H, int64_t W) {
  return x >= T(0) && x < static_cast<T>(W - 1) && y >= T(0) && y < static_cast<T>(H - 1);
}

template <typename T>
LECIN_HD LECIN_INLINE WarpTarget<T> bilinear_target(T x, T y, int64_t H, int64_t W) {
  WarpTarget<T> t;
  t.valid = bilinear_inside(x, y, H, W);
  t.x0 = t.valid ? static_cast<int64_t>(x) : 0;  // x >= 0 here: truncation is floor
  t.y0 = t.valid ? static_cast<int64_t>(y) : 0;
  t.wx = t.valid ? x - static_cast<T>(t.x0) : T(0);
  t.wy = t.valid ? y - static_cast<T>(t.y0) : T(0);
  return t;
}

// Bilinear value of a plane at a valid target (all four taps inside), grid_sample's summation order.
template <typename T>
LECIN_HD LECIN_INLINE T warp_bilinear_value(const T* plane, int64_t W, const WarpTarget<T>& t) {
  const CornerWeights<T> c = corner_weights(t.wx, t.wy);
  const T* r0 = plane + t.y0 * W + t.x0;
  const T* r1 = r0 + W;
  return c.w00 * r0[0] + c.w01 * r0[1] + c.w10 * r1[0] + c.w11 * r1[1];
}

}  // namespace common
}  // namespace lecinpaint
