"""Build script for lecinpaint and its compiled op library ``lecinpaint._C``.

The CPU kernels are always built. The CUDA kernels are built when a usable CUDA toolkit is found (a
``nvcc`` whose toolkit has ``libcudart``) or when ``FORCE_CUDA=1``; ``LECINPAINT_CPU_ONLY=1`` skips them
for fast iteration. The decision is printed.

Environment knobs:
    LECINPAINT_CPU_ONLY=1      build the CPU kernels only
    FORCE_CUDA=1               build the CUDA kernels even if no toolkit was detected (fails if none)
    CUDA_HOME=/path/to/cuda    the toolkit root (detected from the real location of ``nvcc`` otherwise)
    TORCH_CUDA_ARCH_LIST       GPU architectures (default "8.0;9.0")
    MAX_JOBS                   parallel compile jobs (ninja)
"""

from __future__ import annotations

import glob
import os
import shutil
import sys

from setuptools import find_packages, setup

ROOT = os.path.dirname(os.path.abspath(__file__))


def _log(msg: str) -> None:
    print(f"lecinpaint setup: {msg}", file=sys.stderr, flush=True)


def _find_cuda_home() -> str | None:
    """The CUDA toolkit root, resolving wrapper scripts around nvcc.

    torch guesses CUDA_HOME from the directory of the first ``nvcc`` on PATH; when that nvcc is a
    wrapper script (e.g. in /usr/local/bin) the guess is wrong and linking fails with
    ``cannot find -lcudart``. We accept a candidate only if it has ``lib64/libcudart.so`` (or lib/).
    """

    def usable(root: str | None) -> bool:
        if not root:
            return False
        has_nvcc = os.path.exists(os.path.join(root, "bin", "nvcc"))
        has_rt = any(
            glob.glob(os.path.join(root, d, "libcudart.so*")) for d in ("lib64", "lib", "targets/*/lib")
        )
        return has_nvcc and has_rt

    candidates: list[str] = []
    for var in ("CUDA_HOME", "CUDA_PATH"):
        if os.environ.get(var):
            candidates.append(os.environ[var])
    nvcc = shutil.which("nvcc")
    if nvcc:
        real = os.path.realpath(nvcc)
        candidates.append(os.path.dirname(os.path.dirname(real)))
        # A wrapper script that execs the real nvcc: read the path out of it.
        try:
            with open(nvcc, "rb") as fh:
                head = fh.read(4096)
            if head.startswith(b"#!"):
                for tok in head.decode(errors="ignore").split():
                    if tok.endswith("/bin/nvcc") and os.path.isabs(tok):
                        candidates.append(os.path.dirname(os.path.dirname(tok)))
        except OSError:
            pass
    candidates += sorted(glob.glob("/usr/local/cuda*"), reverse=True)
    for c in candidates:
        if usable(c):
            return os.path.realpath(c)
    return None


def _extension():
    import torch
    from torch.utils import cpp_extension

    cpu_only = os.environ.get("LECINPAINT_CPU_ONLY", "0") == "1"
    force_cuda = os.environ.get("FORCE_CUDA", "0") == "1"
    cuda_home = None if cpu_only else _find_cuda_home()
    torch_has_cuda = torch.version.cuda is not None

    if cpu_only:
        with_cuda, why = False, "LECINPAINT_CPU_ONLY=1"
    elif force_cuda:
        with_cuda, why = True, "FORCE_CUDA=1"
    elif cuda_home and torch_has_cuda:
        with_cuda, why = True, f"CUDA toolkit found at {cuda_home}"
    elif not torch_has_cuda:
        with_cuda, why = False, "this torch build has no CUDA"
    else:
        with_cuda, why = False, "no usable CUDA toolkit (nvcc + libcudart) found"

    sources = sorted(glob.glob(os.path.join("csrc", "*.cpp")))
    sources += sorted(glob.glob(os.path.join("csrc", "cpu", "*.cpp")))
    define_macros = []
    extra_compile_args: dict[str, list[str]] = {
        "cxx": ["-O3", "-fno-math-errno", "-ffp-contract=off", "-Wno-unused-parameter"],
    }
    extra_link_args: list[str] = []
    if sys.platform.startswith("linux") and torch.backends.openmp.is_available():
        # at::parallel_for is an inline `#pragma omp parallel` in OpenMP builds of torch: without
        # -fopenmp the pragma is ignored and every CPU kernel silently runs on one thread.
        extra_compile_args["cxx"].append("-fopenmp")
        extra_link_args.append("-fopenmp")
    if with_cuda:
        if cuda_home is None and force_cuda:
            raise RuntimeError("lecinpaint: FORCE_CUDA=1 but no CUDA toolkit was found; set CUDA_HOME")
        os.environ["CUDA_HOME"] = cuda_home
        cpp_extension.CUDA_HOME = cuda_home  # torch read CUDA_HOME at import; correct its guess
        os.environ.setdefault("TORCH_CUDA_ARCH_LIST", "8.0;9.0")
        sources += sorted(glob.glob(os.path.join("csrc", "cuda", "*.cu")))
        define_macros.append(("LECINPAINT_WITH_CUDA", "1"))
        extra_compile_args["nvcc"] = ["-O3", "--expt-relaxed-constexpr", "-lineinfo"]
        ext_cls = cpp_extension.CUDAExtension
        _log(f"building CPU + CUDA kernels ({why}; arch {os.environ['TORCH_CUDA_ARCH_LIST']})")
    else:
        ext_cls = cpp_extension.CppExtension
        _log(f"building CPU kernels only ({why})")

    return ext_cls(
        name="lecinpaint._C",
        sources=sources,
        include_dirs=[os.path.join(ROOT, "csrc")],
        define_macros=define_macros,
        extra_compile_args=extra_compile_args,
        extra_link_args=extra_link_args,
        py_limited_api=False,
    )


def _copy_kernel_sources() -> None:
    """Copy csrc/common and csrc/kernels into the package as lecinpaint/_csrc (for the cupy backend)."""
    dest = os.path.join(ROOT, "lecinpaint", "_csrc")
    for sub in ("common", "kernels"):
        src = os.path.join(ROOT, "csrc", sub)
        if os.path.isdir(src):
            shutil.copytree(src, os.path.join(dest, sub), dirs_exist_ok=True)


def main() -> None:
    from torch.utils.cpp_extension import BuildExtension

    _copy_kernel_sources()
    packages = find_packages(include=["lecinpaint", "lecinpaint.*"])
    setup(
        packages=packages + ["lecinpaint.filter"],
        package_dir={"lecinpaint.filter": "ffmpeg_filter"},
        # The kernel sources travel with the package: cupy compiles them at run time (NVRTC) for
        # users with a GPU and no CUDA compiler.
        package_data={"lecinpaint": ["_csrc/common/*.h", "_csrc/kernels/*.cuh"]},
        ext_modules=[_extension()],
        cmdclass={"build_ext": BuildExtension.with_options(use_ninja=True)},
    )


if __name__ == "__main__":
    main()
