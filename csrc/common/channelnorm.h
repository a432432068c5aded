// channelnorm: L2 norm over channels, out = sqrt(sum_c x_c^2); backward g * x / (out + eps).
#pragma once

#include "common/macros.h"

namespace lecinpaint {
namespace common {

// FlowNet2's epsilon: keeps the gradient finite (zero) where the norm is zero.
template <typename T>
LECIN_HD LECIN_INLINE T channelnorm_eps() {
  return static_cast<T>(1e-9);
}

// The backward is grad_in[c] = scale * x[c] with scale = g / (norm + eps), computed once per pixel.
template <typename T>
LECIN_HD LECIN_INLINE T channelnorm_grad_scale(T grad_out, T norm) {
  return grad_out / (norm + channelnorm_eps<T>());
}

}  // namespace common
}  // namespace lecinpaint
