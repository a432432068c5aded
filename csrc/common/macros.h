// Portability macros for the per-element math in csrc/common/*.h.
//
// The same headers are compiled three ways: by the host C++ compiler (CPU kernels), by nvcc (CUDA
// kernels) and by NVRTC at run time (cupy backend). NVRTC has no standard library and no ATen/c10, so
// this header must not include anything when __CUDACC_RTC__ is defined.
#pragma once

#if defined(__CUDACC_RTC__)
// NVRTC has no <cstdint>; int64_t indexing is required (a batch of 4K frames overflows int32).
typedef long long int64_t;
typedef int int32_t;
#else
#include <cstdint>
#endif

// LECIN_HD marks functions callable from host and device code.
#if defined(__CUDACC__) || defined(__CUDACC_RTC__)
#define LECIN_HD __host__ __device__
#else
#define LECIN_HD
#endif

// Force-inline hint for the small per-element helpers.
#if defined(__CUDACC__) || defined(__CUDACC_RTC__)
#define LECIN_INLINE __forceinline__
#elif defined(__GNUC__) || defined(__clang__)
#define LECIN_INLINE inline __attribute__((always_inline))
#else
#define LECIN_INLINE inline
#endif
