// CPU kernels of lecinpaint::correlation (FlowNet2's correlation layer) and its backward.
//
// Two paths:
//   float32  the fast path. The input read at every displacement is copied to channels-last, with zero
//            columns for the horizontal padding (padding rows are skipped, not stored): in the forward,
//            input2's rows for a band of 16 output rows, and per thread input1's rows of the current
//            output row; in the backward, the other input, one batch item at a time. Every term is then
//            a dot product (in the backward, an axpy) of contiguous channel vectors, register-blocked
//            over displacements (and, for stride1 = 1, over pairs of output pixels), written with
//            GCC/Clang vector extensions; on x86-64 an AVX2 build of the same code is chosen at run
//            time. The forward's extra memory is a fraction of one input batch item.
//   float64  the per-element functions of csrc/common/correlation.h, i.e. the very code the CUDA
//            kernels run, so that the CPU tests (gradcheck is float64) check the GPU math too.
// Both parallelise over output rows (forward) or input rows (backward) with at::parallel_for; the
// backward is a gather, so threads never write to the same element.

#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <ATen/ops/zeros.h>
#include <torch/library.h>

#include <algorithm>
#include <cstring>
#include <tuple>
#include <vector>

#include "common/correlation.h"
#include "common/correlation_checks.h"

namespace lecinpaint {
namespace correlation {
namespace {

constexpr const char* kOp = "lecinpaint::correlation";


// ---------------------------------------------------------------------------------------------------
// float32 fast path
// ---------------------------------------------------------------------------------------------------
#if defined(__GNUC__) || defined(__clang__)
#define LECIN_VECTOR_EXT 1
// 32 bytes: one AVX register, or two SSE/NEON registers when built for the baseline ISA.
typedef float vfloat __attribute__((vector_size(32)));
#else
#define LECIN_VECTOR_EXT 0
#endif

constexpr int64_t kLanes = 8;  // floats per vfloat

#if LECIN_VECTOR_EXT
// Vectors pass by reference: by value they would change the ABI between the two builds below.
LECIN_INLINE void vload(vfloat& v, const float* p) {
  std::memcpy(&v, p, sizeof(v));  // unaligned load; compiles to one vmovups
}
LECIN_INLINE void vstore(float* p, const vfloat& v) { std::memcpy(p, &v, sizeof(v)); }
LECIN_INLINE float vsum(const vfloat& v) {
  float lanes[kLanes];
  std::memcpy(lanes, &v, sizeof(v));
  return ((lanes[0] + lanes[4]) + (lanes[1] + lanes[5])) + ((lanes[2] + lanes[6]) + (lanes[3] + lanes[7]));
}
#endif

#if LECIN_VECTOR_EXT && (defined(__clang__) || __GNUC__ >= 12)  // __builtin_shufflevector
#define LECIN_HAVE_VSUM8 1
// The lane sums of eight vectors at once, as one vector (pairwise, by shuffles): far fewer operations
// than eight separate horizontal sums, which would otherwise cost ~20% of the forward.
#define LECIN_SHUF(a, b, ...) __builtin_shufflevector(a, b, __VA_ARGS__)
LECIN_INLINE void vsum8(const vfloat* s, float* sums) {
  vfloat t[4], u[2];
  for (int k = 0; k < 4; ++k) {
    t[k] = LECIN_SHUF(s[2 * k], s[2 * k + 1], 0, 8, 2, 10, 4, 12, 6, 14) +
           LECIN_SHUF(s[2 * k], s[2 * k + 1], 1, 9, 3, 11, 5, 13, 7, 15);
  }
  for (int k = 0; k < 2; ++k) {
    u[k] = LECIN_SHUF(t[2 * k], t[2 * k + 1], 0, 1, 8, 9, 4, 5, 12, 13) +
           LECIN_SHUF(t[2 * k], t[2 * k + 1], 2, 3, 10, 11, 6, 7, 14, 15);
  }
  vstore(sums, LECIN_SHUF(u[0], u[1], 0, 1, 2, 3, 8, 9, 10, 11) + LECIN_SHUF(u[0], u[1], 4, 5, 6, 7, 12, 13, 14, 15));
}
#undef LECIN_SHUF
#else
#define LECIN_HAVE_VSUM8 0
#endif

// acc[g] += sum_c a[c] * b[g*b_step + c] for g < G. G accumulators live in registers so that each load
// of `a` serves G displacements.
template <int G>
LECIN_INLINE void dot_group(const float* a, const float* b, int64_t b_step, int64_t C, float* acc) {
  int64_t c = 0;
#if LECIN_VECTOR_EXT
  vfloat s[G];
  for (int k = 0; k < G; ++k) s[k] = vfloat{};
  for (; c + kLanes <= C; c += kLanes) {
    vfloat va, vb;
    vload(va, a + c);
    for (int k = 0; k < G; ++k) {
      vload(vb, b + k * b_step + c);
      s[k] += va * vb;
    }
  }
#if LECIN_HAVE_VSUM8
  if constexpr (G == kLanes) {
    float sums[kLanes];
    vsum8(s, sums);
    for (int k = 0; k < G; ++k) acc[k] += sums[k];
  } else {
    for (int k = 0; k < G; ++k) acc[k] += vsum(s[k]);
  }
#else
  for (int k = 0; k < G; ++k) acc[k] += vsum(s[k]);
#endif
#endif
  for (; c < C; ++c) {
    for (int k = 0; k < G; ++k) acc[k] += a[c] * b[k * b_step + c];
  }
}

constexpr int kGroup = 8;  // displacements per register block (8 accumulators + operands fit 16 regs)

LECIN_INLINE void dot_block(int n, const float* a, const float* b, int64_t b_step, int64_t C, float* acc) {
  switch (n) {
    case 1: dot_group<1>(a, b, b_step, C, acc); break;
    case 2: dot_group<2>(a, b, b_step, C, acc); break;
    case 3: dot_group<3>(a, b, b_step, C, acc); break;
    case 4: dot_group<4>(a, b, b_step, C, acc); break;
    case 5: dot_group<5>(a, b, b_step, C, acc); break;
    case 6: dot_group<6>(a, b, b_step, C, acc); break;
    case 7: dot_group<7>(a, b, b_step, C, acc); break;
    default: dot_group<8>(a, b, b_step, C, acc); break;
  }
}

// The same for two output pixels A and B = A + stride2 (stride1 = 1) at once: B's displacement i reads
// the vector that A's displacement i+1 reads, so each load of `b` serves both (half the loads per
// multiply, which bound the single-pixel loop). acc_a[k] += a_a . b_k, acc_b[k] += a_b . b_k.
template <int G>
LECIN_INLINE void dot_pair_group(const float* a_a, const float* a_b, const float* b, int64_t b_step, int64_t C,
                                 float* acc_a, float* acc_b) {
  int64_t c = 0;
#if LECIN_VECTOR_EXT
  vfloat s[2 * G];
  for (int k = 0; k < 2 * G; ++k) s[k] = vfloat{};
  for (; c + kLanes <= C; c += kLanes) {
    vfloat va, vb, vx;
    vload(va, a_a + c);
    vload(vb, a_b + c);
    for (int k = 0; k < G; ++k) {
      vload(vx, b + k * b_step + c);
      s[k] += va * vx;
      s[G + k] += vb * vx;
    }
  }
  for (int k = 0; k < G; ++k) {
    acc_a[k] += vsum(s[k]);
    acc_b[k] += vsum(s[G + k]);
  }
#endif
  for (; c < C; ++c) {
    for (int k = 0; k < G; ++k) {
      acc_a[k] += a_a[c] * b[k * b_step + c];
      acc_b[k] += a_b[c] * b[k * b_step + c];
    }
  }
}

constexpr int kPairGroup = 6;  // 12 accumulators + 3 operands fit 16 registers

LECIN_INLINE void dot_pair_block(int n, const float* a_a, const float* a_b, const float* b, int64_t b_step,
                                 int64_t C, float* acc_a, float* acc_b) {
  switch (n) {
    case 1: dot_pair_group<1>(a_a, a_b, b, b_step, C, acc_a, acc_b); break;
    case 2: dot_pair_group<2>(a_a, a_b, b, b_step, C, acc_a, acc_b); break;
    case 3: dot_pair_group<3>(a_a, a_b, b, b_step, C, acc_a, acc_b); break;
    case 4: dot_pair_group<4>(a_a, a_b, b, b_step, C, acc_a, acc_b); break;
    case 5: dot_pair_group<5>(a_a, a_b, b, b_step, C, acc_a, acc_b); break;
    default: dot_pair_group<6>(a_a, a_b, b, b_step, C, acc_a, acc_b); break;
  }
}

// Channels-last rows of one batch item with zero columns for the horizontal padding: the channel vector
// of padded (yp, xp) is data + ((yp - row0) * Wp + xp) * C for the `rows` stored rows from row0 on.
struct Padded {
  const float* data;
  int64_t Wp;    // W + 2*pad
  int64_t row0;  // padded row of the first stored row
  int64_t rows;  // number of stored rows; every other row is zero padding
  // The channel vector at padded (yp, xp), or nullptr when that is zero padding (a padding row, or
  // beyond the padded columns, which only the backward's gathers can ask for).
  LECIN_INLINE const float* at(const Geometry& g, int64_t yp, int64_t xp) const {
    const int64_t y = yp - row0;
    if (y < 0 || y >= rows || xp < 0 || xp >= Wp) return nullptr;
    return data + (y * Wp + xp) * g.C;
  }
};

// Output pixel ox of row oy, vertical displacement j, alone. acc: D scratch floats.
LECIN_INLINE void forward_pixel(const Geometry& g, const Padded& p1, const Padded& p2, float* out, int64_t oy,
                                int64_t ox, int64_t j, float* acc) {
  const int64_t plane = g.outH * g.outW;
  const int64_t step = g.s2 * g.C;  // neighbouring horizontal displacements
  const int64_t Y = centre(g, oy), X = centre(g, ox), off_y = (j - g.R) * g.s2;
  std::fill(acc, acc + g.D, 0.f);
  for (int64_t dy = -g.kr; dy <= g.kr; ++dy) {
    for (int64_t dx = -g.kr; dx <= g.kr; ++dx) {
      const float* a = p1.at(g, Y + dy, X + dx);
      const float* b = p2.at(g, Y + off_y + dy, X + dx - g.R * g.s2);
      if (a == nullptr || b == nullptr) continue;
      for (int64_t i0 = 0; i0 < g.D; i0 += kGroup) {
        dot_block(static_cast<int>(std::min<int64_t>(kGroup, g.D - i0)), a, b + i0 * step, step, g.C, acc + i0);
      }
    }
  }
  const float norm = normaliser<float>(g);
  float* o = out + j * g.D * plane + oy * g.outW + ox;
  for (int64_t i = 0; i < g.D; ++i) o[i * plane] = acc[i] * norm;
}

// Output pixels ox and ox + stride2 of row oy (stride1 = 1), vertical displacement j. With m = i + R,
// pixel A's displacement m and pixel B's displacement m - 1 read the same vector b_m, m in [0, D]:
// acc_a[m] for m < D is A's, acc_b[m] for m >= 1 is B's (m - 1); the two ends are discarded.
// acc: 2*(D+1) scratch floats.
LECIN_INLINE void forward_pixel_pair(const Geometry& g, const Padded& p1, const Padded& p2, float* out,
                                     int64_t oy, int64_t ox, int64_t j, float* acc) {
  const int64_t plane = g.outH * g.outW;
  const int64_t step = g.s2 * g.C;
  const int64_t Y = centre(g, oy), X = centre(g, ox), off_y = (j - g.R) * g.s2;
  const int64_t M = g.D + 1;
  float* acc_a = acc;
  float* acc_b = acc + M;
  std::fill(acc, acc + 2 * M, 0.f);
  for (int64_t dy = -g.kr; dy <= g.kr; ++dy) {
    for (int64_t dx = -g.kr; dx <= g.kr; ++dx) {
      // Rows decide whether a tap is padding, and A and B share their rows.
      const float* a_a = p1.at(g, Y + dy, X + dx);
      const float* a_b = p1.at(g, Y + dy, X + g.s2 + dx);
      const float* b = p2.at(g, Y + off_y + dy, X + dx - g.R * g.s2);
      if (a_a == nullptr || a_b == nullptr || b == nullptr) continue;
      for (int64_t m0 = 0; m0 < M; m0 += kPairGroup) {
        dot_pair_block(static_cast<int>(std::min<int64_t>(kPairGroup, M - m0)), a_a, a_b, b + m0 * step, step,
                       g.C, acc_a + m0, acc_b + m0);
      }
    }
  }
  const float norm = normaliser<float>(g);
  float* o = out + j * g.D * plane + oy * g.outW + ox;
  for (int64_t i = 0; i < g.D; ++i) {
    o[i * plane] = acc_a[i] * norm;
    o[i * plane + g.s2] = acc_b[i + 1] * norm;
  }
}

// Output rows [oy0, oy1) of one batch item; out: (D*D, outH, outW). acc: 2*(D+1) scratch floats.
LECIN_INLINE void forward_rows(const Geometry& g, Padded p1, Padded p2, float* out, int64_t oy0, int64_t oy1,
                               float* acc) {
  for (int64_t oy = oy0; oy < oy1; ++oy) {
    // One vertical displacement at a time, sweeping the row: the window of P2 that the horizontal
    // displacements read (2*md+1 channel vectors per tap row) slides by one pixel and stays in cache.
    for (int64_t j = 0; j < g.D; ++j) {
      int64_t ox = 0;
      if (g.s1 == 1 && g.D > 1) {
        // Blocks of 2*stride2 pixels: t pairs with t + stride2.
        for (; ox + 2 * g.s2 <= g.outW; ox += 2 * g.s2) {
          for (int64_t t = 0; t < g.s2; ++t) forward_pixel_pair(g, p1, p2, out, oy, ox + t, j, acc);
        }
      }
      for (; ox < g.outW; ++ox) forward_pixel(g, p1, p2, out, oy, ox, j, acc);
    }
  }
}

// dst[c] = sum_t coef[t] * rows[t][c] over the n terms, for c in [0, C). The channel loop is blocked so
// that a block of accumulators stays in registers while all terms stream through.
template <int NV>
LECIN_INLINE void axpy_block(int64_t n, const float* coef, const float* const* rows, int64_t c0, float* dst) {
#if LECIN_VECTOR_EXT
  vfloat s[NV];
  for (int v = 0; v < NV; ++v) s[v] = vfloat{};
  for (int64_t t = 0; t < n; ++t) {
    const float w = coef[t];
    const vfloat vw = vfloat{} + w;
    const float* r = rows[t] + c0;
    for (int v = 0; v < NV; ++v) {
      vfloat vr;
      vload(vr, r + v * kLanes);
      s[v] += vw * vr;
    }
  }
  for (int v = 0; v < NV; ++v) vstore(dst + c0 + v * kLanes, s[v]);
#endif
}

LECIN_INLINE void axpy_rows(int64_t n, const float* coef, const float* const* rows, int64_t C, float* dst) {
  int64_t c = 0;
#if LECIN_VECTOR_EXT
  constexpr int64_t kBlock = 8 * kLanes;
  for (; c + kBlock <= C; c += kBlock) axpy_block<8>(n, coef, rows, c, dst);
  for (; c + kLanes <= C; c += kLanes) axpy_block<1>(n, coef, rows, c, dst);
#endif
  for (; c < C; ++c) {
    float s = 0.f;
    for (int64_t t = 0; t < n; ++t) s += coef[t] * rows[t][c];
    dst[c] = s;
  }
}

// Lookup tables for the backward's index arithmetic (divisions in the innermost loops would cost as
// much as the arithmetic itself): the displacement of every output channel, and the output index of
// every window centre that a gather can ask about (-1 where none), from the shared helpers.
struct BackwardTables {
  std::vector<int64_t> off_y, off_x;  // per output channel
  std::vector<int64_t> oy_of, ox_of;  // output index of padded centre lo + i
  int64_t lo_y = 0, lo_x = 0;

  explicit BackwardTables(const Geometry& g) {
    const int64_t DD = g.D * g.D;
    off_y.resize(static_cast<size_t>(DD));
    off_x.resize(static_cast<size_t>(DD));
    for (int64_t ch = 0; ch < DD; ++ch) displacement(g, ch, &off_y[ch], &off_x[ch]);
    // Centres asked about: (input pixel) -/+ displacement - tap, i.e. within md + kr of the input.
    const int64_t reach = g.md + g.kr;
    lo_y = g.pad - reach;
    lo_x = g.pad - reach;
    oy_of.resize(static_cast<size_t>(g.H + 2 * reach));
    ox_of.resize(static_cast<size_t>(g.W + 2 * reach));
    for (size_t i = 0; i < oy_of.size(); ++i) oy_of[i] = output_index(g, lo_y + static_cast<int64_t>(i), g.outH);
    for (size_t i = 0; i < ox_of.size(); ++i) ox_of[i] = output_index(g, lo_x + static_cast<int64_t>(i), g.outW);
  }
  LECIN_INLINE int64_t oy(int64_t p) const {
    const int64_t i = p - lo_y;
    return i < 0 || i >= static_cast<int64_t>(oy_of.size()) ? -1 : oy_of[static_cast<size_t>(i)];
  }
  LECIN_INLINE int64_t ox(int64_t p) const {
    const int64_t i = p - lo_x;
    return i < 0 || i >= static_cast<int64_t>(ox_of.size()) ? -1 : ox_of[static_cast<size_t>(i)];
  }
};

// Gradient rows [y0, y1) of one batch item, channels-last (H, W, C), for input1 (which = 1) or input2.
// gt: the output gradient of this item, channels-last (outH, outW, D*D). Each input pixel gathers the
// terms coef * P_other[q] of every output element that read it, then sums them with axpy_rows.
// coef, rows: scratch of D*D entries.
LECIN_INLINE void backward_rows(int which, const Geometry& g, const BackwardTables& t, Padded other,
                                const float* gt, float* grad, int64_t y0, int64_t y1, float* coef,
                                const float** rows) {
  const float norm = normaliser<float>(g);
  const int64_t DD = g.D * g.D;
  const int64_t sign = which == 1 ? 1 : -1;
  for (int64_t y = y0; y < y1; ++y) {
    const int64_t yp = y + g.pad;
    for (int64_t x = 0; x < g.W; ++x) {
      const int64_t xp = x + g.pad;
      int64_t n = 0;
      for (int64_t ch = 0; ch < DD; ++ch) {
        const int64_t off_y = t.off_y[ch], off_x = t.off_x[ch];
        // input1 at p meets input2 at p + off; input2 at q meets input1 at q - off.
        const float* r = other.at(g, yp + sign * off_y, xp + sign * off_x);
        if (r == nullptr) continue;
        // Window centres that put this pixel under tap (dy, dx): p - tap for input1, q - off - tap for 2.
        const int64_t cy = which == 1 ? yp : yp - off_y;
        const int64_t cx = which == 1 ? xp : xp - off_x;
        float w = 0.f;
        bool read = false;
        for (int64_t dy = -g.kr; dy <= g.kr; ++dy) {
          const int64_t oy = t.oy(cy - dy);
          if (oy < 0) continue;
          for (int64_t dx = -g.kr; dx <= g.kr; ++dx) {
            const int64_t ox = t.ox(cx - dx);
            if (ox < 0) continue;
            w += gt[(oy * g.outW + ox) * DD + ch];
            read = true;
          }
        }
        if (!read) continue;
        coef[n] = w * norm;
        rows[n] = r;
        ++n;
      }
      float* dst = grad + (y * g.W + x) * g.C;
      if (n == 0) {
        std::fill(dst, dst + g.C, 0.f);
      } else {
        axpy_rows(n, coef, rows, g.C, dst);
      }
    }
  }
}

// Two builds of the same code: the baseline ISA, and AVX2 chosen at run time on x86-64. `flatten`
// inlines the whole call tree so the vector code is generated for the caller's target.
void forward_rows_baseline(const Geometry& g, Padded p1, Padded p2, float* out, int64_t oy0, int64_t oy1,
                           float* acc) {
  forward_rows(g, p1, p2, out, oy0, oy1, acc);
}
void backward_rows_baseline(int which, const Geometry& g, const BackwardTables& t, Padded other,
                            const float* gt, float* grad, int64_t y0, int64_t y1, float* coef,
                            const float** rows) {
  backward_rows(which, g, t, other, gt, grad, y0, y1, coef, rows);
}

#if LECIN_VECTOR_EXT && defined(__x86_64__)
#define LECIN_HAVE_AVX2_BUILD 1
__attribute__((target("avx2,fma"), flatten)) void forward_rows_avx2(const Geometry& g, Padded p1, Padded p2,
                                                                     float* out, int64_t oy0, int64_t oy1,
                                                                     float* acc) {
  forward_rows(g, p1, p2, out, oy0, oy1, acc);
}
__attribute__((target("avx2,fma"), flatten)) void backward_rows_avx2(int which, const Geometry& g,
                                                                      const BackwardTables& t, Padded other,
                                                                      const float* gt, float* grad, int64_t y0,
                                                                      int64_t y1, float* coef, const float** rows) {
  backward_rows(which, g, t, other, gt, grad, y0, y1, coef, rows);
}
bool cpu_has_avx2() {
  static const bool has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return has;
}
#else
#define LECIN_HAVE_AVX2_BUILD 0
#endif

// (C, H, W) -> zero-padded channels-last (H, W + 2*pad, C).
at::Tensor to_padded_nhwc(const at::Tensor& item, int64_t pad) {
  const int64_t C = item.size(0), H = item.size(1), W = item.size(2);
  at::Tensor t = at::empty({H, W + 2 * pad, C}, item.options());
  if (pad > 0) {
    t.narrow(1, 0, pad).zero_();
    t.narrow(1, W + pad, pad).zero_();
  }
  t.narrow(1, pad, W).copy_(item.permute({1, 2, 0}));
  return t;
}

// Rows per parallel task: enough work to amortise the scheduling, at least a row.
int64_t grain(int64_t work_per_row) {
  return std::max<int64_t>(1, (int64_t{1} << 22) / std::max<int64_t>(1, work_per_row));
}

// Copies input rows [y0, y0 + rows) of one NCHW batch item into a zero-column-padded channels-last
// buffer (rows, Wp, C) whose padding columns are already zero.
void gather_rows(const Geometry& g, const float* item, int64_t y0, int64_t rows, int64_t Wp, float* buf) {
  for (int64_t r = 0; r < rows; ++r) {
    float* dst = buf + (r * Wp + g.pad) * g.C;
    for (int64_t c = 0; c < g.C; ++c) {
      const float* src = item + (c * g.H + y0 + r) * g.W;
      for (int64_t x = 0; x < g.W; ++x) dst[x * g.C + c] = src[x];
    }
  }
}

// Output rows per band: the forward copies only the input2 rows that a band reads (band + 2*(md+kr)
// rows), which keeps its extra memory well below that of the output.
constexpr int64_t kBand = 16;

void forward_float(const Geometry& g, const at::Tensor& input1, const at::Tensor& input2, at::Tensor& out) {
  const int64_t N = input1.size(0);
  const int64_t DD = g.D * g.D;
  const int64_t k = 2 * g.kr + 1;
  const int64_t Wp = g.W + 2 * g.pad;
  const int64_t reach = g.R * g.s2 + g.kr;  // rows of input2 above and below a window centre
#if LECIN_HAVE_AVX2_BUILD
  const bool avx2 = cpu_has_avx2();
#endif
  const at::Tensor in1 = input1.contiguous();
  const at::Tensor in2 = input2.contiguous();
  const int64_t item = g.C * g.H * g.W;
  const int64_t band_rows = std::min(g.H, (kBand - 1) * g.s1 + 1 + 2 * reach);
  // Channels-last rows of input2 for one band, zero columns included (they are never written).
  at::Tensor band_buf = at::zeros({band_rows, Wp, g.C}, input2.options());
  float* band_ptr = band_buf.data_ptr<float>();
  for (int64_t b = 0; b < N; ++b) {
    const float* item1 = in1.data_ptr<float>() + b * item;
    const float* item2 = in2.data_ptr<float>() + b * item;
    float* out_b = out[b].data_ptr<float>();
    for (int64_t oy0 = 0; oy0 < g.outH; oy0 += kBand) {
      const int64_t oy1 = std::min(g.outH, oy0 + kBand);
      const int64_t first = std::max(centre(g, oy0) - reach, g.pad);
      const int64_t last = std::min(centre(g, oy1 - 1) + reach, g.pad + g.H - 1);
      const Padded p2{band_ptr, Wp, first, std::max<int64_t>(0, last - first + 1)};
      at::parallel_for(0, p2.rows, 1, [&](int64_t r0, int64_t r1) {
        gather_rows(g, item2, first - g.pad + r0, r1 - r0, Wp, band_ptr + r0 * Wp * g.C);
      });
      at::parallel_for(oy0, oy1, grain(g.outW * DD * g.C * k * k), [&](int64_t row0, int64_t row1) {
        // Per thread: the k rows of input1 that the current output row reads.
        std::vector<float> acc(static_cast<size_t>(2 * (g.D + 1)));
        std::vector<float> rows1(static_cast<size_t>(k * Wp * g.C), 0.f);
        for (int64_t oy = row0; oy < row1; ++oy) {
          const int64_t Y = centre(g, oy);
          const int64_t r_first = std::max(Y - g.kr, g.pad);
          const int64_t r_last = std::min(Y + g.kr, g.pad + g.H - 1);
          const Padded p1{rows1.data(), Wp, r_first, std::max<int64_t>(0, r_last - r_first + 1)};
          gather_rows(g, item1, r_first - g.pad, p1.rows, Wp, rows1.data());
#if LECIN_HAVE_AVX2_BUILD
          if (avx2) {
            forward_rows_avx2(g, p1, p2, out_b, oy, oy + 1, acc.data());
            continue;
          }
#endif
          forward_rows_baseline(g, p1, p2, out_b, oy, oy + 1, acc.data());
        }
      });
    }
  }
}

void backward_float(const Geometry& g, const at::Tensor& grad_output, const at::Tensor& input1,
                    const at::Tensor& input2, at::Tensor& grad1, at::Tensor& grad2) {
  const int64_t N = input1.size(0);
  const int64_t DD = g.D * g.D;
  const int64_t k = 2 * g.kr + 1;
#if LECIN_HAVE_AVX2_BUILD
  const bool avx2 = cpu_has_avx2();
#endif
  const BackwardTables tables(g);
  at::Tensor scratch = at::empty({g.H, g.W, g.C}, input1.options());
  float* scratch_ptr = scratch.data_ptr<float>();
  for (int64_t b = 0; b < N; ++b) {
    const at::Tensor gt = grad_output[b].permute({1, 2, 0}).contiguous();
    const float* gt_ptr = gt.data_ptr<float>();
    for (int which = 1; which <= 2; ++which) {
      const at::Tensor t = to_padded_nhwc(which == 1 ? input2[b] : input1[b], g.pad);
      const Padded other{t.data_ptr<float>(), t.size(1), g.pad, g.H};
      at::parallel_for(0, g.H, grain(g.W * DD * (g.C + k * k)), [&](int64_t y0, int64_t y1) {
        std::vector<float> coef(static_cast<size_t>(DD));
        std::vector<const float*> rows(static_cast<size_t>(DD));
#if LECIN_HAVE_AVX2_BUILD
        if (avx2) {
          backward_rows_avx2(which, g, tables, other, gt_ptr, scratch_ptr, y0, y1, coef.data(), rows.data());
          return;
        }
#endif
        backward_rows_baseline(which, g, tables, other, gt_ptr, scratch_ptr, y0, y1, coef.data(), rows.data());
      });
      (which == 1 ? grad1 : grad2)[b].copy_(scratch.permute({2, 0, 1}));
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// float64 path: the shared per-element functions (the CUDA kernels' math)
// ---------------------------------------------------------------------------------------------------
template <typename scalar_t>
void forward_elementwise(const Geometry& g, const at::Tensor& in1, const at::Tensor& in2, at::Tensor& out) {
  const int64_t N = in1.size(0);
  const int64_t DD = g.D * g.D;
  const int64_t item = g.H * g.W * g.C;
  const int64_t plane = g.outH * g.outW;
  const scalar_t* p1 = in1.data_ptr<scalar_t>();
  const scalar_t* p2 = in2.data_ptr<scalar_t>();
  scalar_t* po = out.data_ptr<scalar_t>();
  const scalar_t norm = normaliser<scalar_t>(g);
  at::parallel_for(0, N * g.outH, grain(g.outW * DD * g.C), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t b = r / g.outH, oy = r % g.outH;
      for (int64_t ch = 0; ch < DD; ++ch) {
        for (int64_t ox = 0; ox < g.outW; ++ox) {
          const scalar_t s =
              forward_partial<scalar_t, scalar_t>(g, p1 + b * item, p2 + b * item, oy, ox, ch, 0, 1);
          po[(b * DD + ch) * plane + oy * g.outW + ox] = s * norm;
        }
      }
    }
  });
}

template <typename scalar_t>
void backward_elementwise(const Geometry& g, const at::Tensor& grad_output, const at::Tensor& in1,
                          const at::Tensor& in2, at::Tensor& grad1, at::Tensor& grad2) {
  const int64_t N = in1.size(0);
  const int64_t item = g.H * g.W * g.C;
  const int64_t grad_item = g.D * g.D * g.outH * g.outW;
  const scalar_t* pg = grad_output.data_ptr<scalar_t>();
  const scalar_t* p1 = in1.data_ptr<scalar_t>();
  const scalar_t* p2 = in2.data_ptr<scalar_t>();
  scalar_t* g1 = grad1.data_ptr<scalar_t>();
  scalar_t* g2 = grad2.data_ptr<scalar_t>();
  const scalar_t norm = normaliser<scalar_t>(g);
  at::parallel_for(0, N * g.H, grain(g.W * g.C * g.D * g.D), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t b = r / g.H, y = r % g.H;
      for (int64_t x = 0; x < g.W; ++x) {
        for (int64_t c = 0; c < g.C; ++c) {
          const int64_t idx = b * item + (y * g.W + x) * g.C + c;
          g1[idx] = norm * backward_input1_element<scalar_t, scalar_t>(g, pg + b * grad_item, p2 + b * item, y,
                                                                        x, c);
          g2[idx] = norm * backward_input2_element<scalar_t, scalar_t>(g, pg + b * grad_item, p1 + b * item, y,
                                                                        x, c);
        }
      }
    }
  });
}

// ---------------------------------------------------------------------------------------------------
// Entry points
// ---------------------------------------------------------------------------------------------------
at::Tensor correlation_cpu(const at::Tensor& input1, const at::Tensor& input2, int64_t pad_size,
                           int64_t kernel_size, int64_t max_displacement, int64_t stride1, int64_t stride2) {
  const Geometry g =
      check_and_geometry(input1, input2, pad_size, kernel_size, max_displacement, stride1, stride2);
  TORCH_CHECK(input1.scalar_type() == at::kFloat || input1.scalar_type() == at::kDouble, kOp,
              ": on the CPU input1 and input2 must be float32 or float64, got ", input1.scalar_type());
  at::Tensor out = at::empty({input1.size(0), g.D * g.D, g.outH, g.outW}, input1.options());
  if (out.numel() == 0) return out;
  if (g.C == 0) return out.zero_();
  if (input1.scalar_type() == at::kFloat) {
    forward_float(g, input1, input2, out);
  } else {
    const at::Tensor in1 = input1.permute({0, 2, 3, 1}).contiguous();
    const at::Tensor in2 = input2.permute({0, 2, 3, 1}).contiguous();
    forward_elementwise<double>(g, in1, in2, out);
  }
  return out;
}

std::tuple<at::Tensor, at::Tensor> correlation_backward_cpu(const at::Tensor& grad_output,
                                                            const at::Tensor& input1, const at::Tensor& input2,
                                                            int64_t pad_size, int64_t kernel_size,
                                                            int64_t max_displacement, int64_t stride1,
                                                            int64_t stride2) {
  const Geometry g =
      check_and_geometry(input1, input2, pad_size, kernel_size, max_displacement, stride1, stride2);
  TORCH_CHECK(input1.scalar_type() == at::kFloat || input1.scalar_type() == at::kDouble, kOp,
              ": on the CPU input1 and input2 must be float32 or float64, got ", input1.scalar_type());
  TORCH_CHECK(grad_output.dim() == 4 && grad_output.size(0) == input1.size(0) &&
                  grad_output.size(1) == g.D * g.D && grad_output.size(2) == g.outH &&
                  grad_output.size(3) == g.outW,
              kOp, ": grad_output must have the output's shape [", input1.size(0), ", ", g.D * g.D, ", ", g.outH,
              ", ", g.outW, "], got ", grad_output.sizes());
  TORCH_CHECK(grad_output.scalar_type() == input1.scalar_type() && grad_output.device() == input1.device(), kOp,
              ": grad_output must have the inputs' dtype and device");
  at::Tensor grad1 = at::empty(input1.sizes(), input1.options());
  at::Tensor grad2 = at::empty(input2.sizes(), input2.options());
  if (grad1.numel() == 0) return {grad1, grad2};
  const at::Tensor go = grad_output.contiguous();
  if (input1.scalar_type() == at::kFloat) {
    backward_float(g, go, input1, input2, grad1, grad2);
  } else {
    const at::Tensor in1 = input1.permute({0, 2, 3, 1}).contiguous();
    const at::Tensor in2 = input2.permute({0, 2, 3, 1}).contiguous();
    at::Tensor g1 = at::empty_like(in1);
    at::Tensor g2 = at::empty_like(in2);
    backward_elementwise<double>(g, go, in1, in2, g1, g2);
    grad1.copy_(g1.permute({0, 3, 1, 2}));
    grad2.copy_(g2.permute({0, 3, 1, 2}));
  }
  return {grad1, grad2};
}

}  // namespace
}  // namespace correlation
}  // namespace lecinpaint

TORCH_LIBRARY_IMPL(lecinpaint, CPU, m) {
  m.impl("correlation", &lecinpaint::correlation::correlation_cpu);
  m.impl("_correlation_backward", &lecinpaint::correlation::correlation_backward_cpu);
}
