// lecinpaint._C: the schemas of every custom op, in one place.
//
// Conventions (see lecinpaint/ops for the documented Python wrappers):
//   images/features (N, C, H, W); flow (N, 2, H, W) in pixels, channel 0 = dx, channel 1 = dy;
//   a flow from frame a to b lives on a's grid: a(p) ~ b(p + f_ab(p)).
// Kernels are registered per backend in csrc/cpu/<op>.cpp and csrc/cuda/<op>.cu.

#include <Python.h>
#include <torch/library.h>

TORCH_LIBRARY(lecinpaint, m) {
  // FlowNet2 correlation. out (N, D*D, outH, outW), D = 2*(max_displacement/stride2)+1, dy-major.
  m.def(
      "correlation(Tensor input1, Tensor input2, int pad_size, int kernel_size, int max_displacement, "
      "int stride1, int stride2) -> Tensor");
  m.def(
      "_correlation_backward(Tensor grad_output, Tensor input1, Tensor input2, int pad_size, "
      "int kernel_size, int max_displacement, int stride1, int stride2) -> (Tensor, Tensor)");

  // FlowNet2 warp: out(p) = input(p + flow(p)), bilinear, each corner index clamped to the border.
  m.def("resample2d(Tensor input, Tensor flow) -> Tensor");
  m.def("_resample2d_backward(Tensor grad_output, Tensor input, Tensor flow) -> (Tensor, Tensor)");

  // L2 norm over channels: (N, C, H, W) -> (N, 1, H, W).
  m.def("channelnorm(Tensor input) -> Tensor");
  m.def("_channelnorm_backward(Tensor grad_output, Tensor input, Tensor output) -> Tensor");

  // Propagation warp: warped(p) = src(p + flow(p)); mode 0 = nearest (rint), 1 = bilinear.
  // valid (N, H, W) bool: the target lies inside the image.
  m.def("flow_warp(Tensor src, Tensor flow, int mode) -> (Tensor, Tensor)");

  // Forward/backward consistency: error (N, H, W), valid (N, H, W) bool, mid_flow (N, 2, H, W).
  m.def("flow_consistency(Tensor flow_ts, Tensor flow_st, float threshold) -> (Tensor, Tensor, Tensor)");
}

// A tiny module init so that `import lecinpaint._C` loads the library (and runs the registrations).
static struct PyModuleDef lecinpaint_module = {PyModuleDef_HEAD_INIT, "_C", nullptr, -1, nullptr};

PyMODINIT_FUNC PyInit__C(void) {
  PyObject* mod = PyModule_Create(&lecinpaint_module);
  if (mod == nullptr) return nullptr;
#ifdef LECINPAINT_WITH_CUDA
  PyModule_AddIntConstant(mod, "with_cuda", 1);
#else
  PyModule_AddIntConstant(mod, "with_cuda", 0);
#endif
  return mod;
}
