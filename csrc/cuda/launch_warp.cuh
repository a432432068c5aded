// Launch configuration shared by the CUDA entry points of the warp-family ops (host side, nvcc only).
#pragma once

#include <cstdint>

namespace lecinpaint {
namespace warp {

constexpr int kThreads = 256;

// Blocks for a grid-stride loop over `items` elements: enough to fill any current GPU, capped so that
// the block count fits the launch limits; the kernels loop over the rest.
inline unsigned int blocks_for(int64_t items) {
  const int64_t blocks = (items + kThreads - 1) / kThreads;
  return static_cast<unsigned int>(blocks < 65536 ? (blocks > 0 ? blocks : 1) : 65536);
}

}  // namespace warp
}  // namespace lecinpaint
