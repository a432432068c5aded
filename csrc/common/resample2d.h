// resample2d (FlowNet2's warping layer): out(p) = input(p + flow(p)), bilinear, border clipped.
// The math is bilinear.h's; this header names the pieces the resample2d kernels use.
#pragma once

#include "common/bilinear.h"

namespace lecinpaint {
namespace common {

// Taps of output pixel (x, y) displaced by the flow (fx, fy).
template <typename T>
LECIN_HD LECIN_INLINE BilinearTaps<T> resample2d_taps(int64_t x, int64_t y, T fx, T fy, int64_t H, int64_t W) {
  return bilinear_taps(static_cast<T>(x) + fx, static_cast<T>(y) + fy, H, W);
}

}  // namespace common
}  // namespace lecinpaint
