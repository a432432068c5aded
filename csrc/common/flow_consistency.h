// flow_consistency: the forward/backward check of propagation (DESIGN.md section 3).
//
//   q      = p + flow_ts(p)
//   inside = floor(q) in [0, H-2] x [0, W-2]
//   fhat   = bilinear(flow_st, q)      border-clipped like resample2d, so it is finite even outside
//   error  = || flow_ts(p) + fhat ||_2
//   valid  = inside and error < threshold
//   mid    = (flow_ts(p) - fhat) / 2
#pragma once

#include "common/bilinear.h"
#include "common/flow_warp.h"

namespace lecinpaint {
namespace common {

template <typename T>
struct Consistency {
  T error, mid_x, mid_y;
  bool valid;
};

// st_x, st_y: the two channel planes of flow_st for this frame.
template <typename T>
LECIN_HD LECIN_INLINE Consistency<T> consistency_at(int64_t x, int64_t y, T fx, T fy, const T* st_x,
                                                    const T* st_y, int64_t H, int64_t W, T threshold) {
  const T qx = static_cast<T>(x) + fx;
  const T qy = static_cast<T>(y) + fy;
  const BilinearTaps<T> taps = bilinear_taps(qx, qy, H, W);
  const T hx = bilinear_sample(st_x, W, taps);
  const T hy = bilinear_sample(st_y, W, taps);
  const T ex = fx + hx;
  const T ey = fy + hy;
  Consistency<T> c;
  c.error = lsqrt(ex * ex + ey * ey);
  c.valid = bilinear_inside(qx, qy, H, W) && c.error < threshold;
  c.mid_x = (fx - hx) * T(0.5);
  c.mid_y = (fy - hy) * T(0.5);
  return c;
}

}  // namespace common
}  // namespace lecinpaint
