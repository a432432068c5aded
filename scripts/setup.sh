#!/usr/bin/env bash
# One-time (idempotent) set-up of a lecinpaint checkout: system packages, a Python virtual environment
# in .venv (3.12 preferred; 3.11-3.13 work, VapourSynth needs 3.12+), the Python dependencies, and the
# compiled op library.
#
# Sourced by scripts/main.sh and scripts/test.sh; safe to run again (it skips what is done).
# Knobs: LECINPAINT_PYTHON=/path/to/python (the interpreter for a new .venv: used as given, an error if
#        it is missing or not 3.11-3.13), LECINPAINT_CPU_ONLY=1 (no CUDA kernels),
#        LECINPAINT_SKIP_APT=1 (do not install system packages).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
log() { printf 'lecinpaint setup: %s\n' "$*" >&2; }

# --- system packages -------------------------------------------------------------------------------
if [ "${LECINPAINT_SKIP_APT:-0}" != 1 ] && ! command -v ffmpeg >/dev/null 2>&1; then
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo"
  if command -v apt-get >/dev/null 2>&1; then
    log "installing ffmpeg (apt-get)"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq ffmpeg >/dev/null
  else
    log "ffmpeg is missing and this is not a Debian/Ubuntu system: install ffmpeg with your package manager"
    exit 1
  fi
fi

# --- a Python: 3.12 preferred; 3.11..3.13 work (the VapourSynth front end needs >= 3.12) -------------------
py_ok() {  # prints the version if $1 is a usable CPython 3.11..3.13 with venv
  "$1" -c 'import sys, venv; v=sys.version_info; assert (3,11)<=v[:2]<=(3,13); print(f"{v[0]}.{v[1]}")' 2>/dev/null
}
find_python() {
  local c cands=()
  if [ -n "${LECINPAINT_PYTHON:-}" ]; then  # the user's choice is used as it is, or refused with a reason
    if ! command -v "$LECINPAINT_PYTHON" >/dev/null 2>&1; then
      log "LECINPAINT_PYTHON=$LECINPAINT_PYTHON: no such program"; return 1
    fi
    [ -n "$(py_ok "$LECINPAINT_PYTHON")" ] || { log "LECINPAINT_PYTHON=$LECINPAINT_PYTHON: not a CPython 3.11-3.13 with the venv module"; return 1; }
    command -v "$LECINPAINT_PYTHON"; return 0
  fi
  if command -v pyenv >/dev/null 2>&1; then
    for v in $(pyenv versions --bare 2>/dev/null | grep -E '^3\.12(\.[0-9]+)?$' | sort -t. -k3 -n -r); do
      cands+=("$(pyenv root)/versions/$v/bin/python3")
    done
  fi
  for c in python3.12 /usr/bin/python3.12 /usr/local/bin/python3.12 python3 python3.13 python3.11; do
    command -v "$c" >/dev/null 2>&1 && cands+=("$(command -v "$c")")
  done
  local best="" bestv=""
  for c in "${cands[@]}"; do
    local v; v="$(py_ok "$c")" && [ -n "$v" ] || continue
    if [ "$v" = 3.12 ]; then echo "$c"; return 0; fi
    [ -z "$best" ] && { best="$c"; bestv="$v"; }
  done
  if [ -n "$best" ]; then
    [ "$bestv" = 3.11 ] && log "no Python 3.12 found; using 3.11 ($best): the VapourSynth front end needs 3.12+ and is skipped"
    echo "$best"; return 0
  fi
  return 1
}

if [ ! -x .venv/bin/python ]; then
  PY="$(find_python)" || { log "no usable Python: install Python 3.12 (e.g. pyenv install 3.12) or set LECINPAINT_PYTHON"; exit 1; }
  log "creating .venv with $PY"
  "$PY" -m venv .venv
elif [ -n "${LECINPAINT_PYTHON:-}" ]; then
  want="$(py_ok "$LECINPAINT_PYTHON" || true)"
  have="$(.venv/bin/python -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
  [ "$want" = "$have" ] || log "LECINPAINT_PYTHON is Python ${want:-?} but .venv has $have: remove .venv to switch"
fi
VPY="$ROOT/.venv/bin/python"
PYV="$("$VPY" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"

# --- Python dependencies ---------------------------------------------------------------------------
REQ_STAMP=.venv/.lecinpaint-deps
REQ_HASH="$(cat requirements.txt requirements-dev.txt requirements-vs.txt requirements-ray.txt | sha256sum | cut -c1-16)-$PYV"
if [ "$(cat "$REQ_STAMP" 2>/dev/null)" != "$REQ_HASH" ]; then
  log "installing Python dependencies"
  "$VPY" -m pip install -q "setuptools>=64" wheel
  "$VPY" -m pip install -q -r requirements.txt -r requirements-dev.txt -r requirements-ray.txt
  # Exactly one OpenCV: an older set-up installed opencv-python next to mediapipe's opencv-contrib-python,
  # two distributions writing one cv2 package. Remove it and restore the contrib build's files.
  if "$VPY" -m pip show -q opencv-python >/dev/null 2>&1; then
    log "removing opencv-python (opencv-contrib-python provides cv2)"
    "$VPY" -m pip uninstall -q -y opencv-python
    "$VPY" -m pip install -q --force-reinstall --no-deps "$(grep -E '^opencv-contrib-python' requirements.txt)"
  fi
  if [ "$PYV" != 3.11 ]; then  # VapourSynth's wheels need 3.12+ (the same rule as pyproject's vs extra)
    "$VPY" -m pip install -q -r requirements-vs.txt || log "VapourSynth could not be installed; its front end is skipped"
  fi
  echo "$REQ_HASH" > "$REQ_STAMP"
fi
# vspipe finds its Python through a per-user configuration keyed by this venv's VapourSynth library.
if [ -x .venv/bin/vapoursynth ]; then
  .venv/bin/vapoursynth config >/dev/null || log "vapoursynth config failed: vspipe may not find this Python"
fi

# --- the compiled op library -----------------------------------------------------------------------
BUILD_STAMP=.venv/.lecinpaint-build
BUILD_HASH="$( (cat setup.py pyproject.toml; find csrc -type f \( -name '*.cpp' -o -name '*.h' -o -name '*.cu' -o -name '*.cuh' \) | sort | xargs cat; echo "${LECINPAINT_CPU_ONLY:-0}") | sha256sum | cut -c1-16)"
if [ "$(cat "$BUILD_STAMP" 2>/dev/null)" != "$BUILD_HASH" ] || ! ls lecinpaint/_C*.so >/dev/null 2>&1; then
  log "building the op library (the CUDA kernels take several minutes on 2 cores)"
  # An editable install: builds lecinpaint/_C*.so in place, maps lecinpaint.filter to ffmpeg_filter/ and
  # installs the `lecinpaint` command into .venv/bin.
  MAX_JOBS="${MAX_JOBS:-$(nproc)}" "$VPY" -m pip install -q --no-build-isolation --no-deps -e .
  echo "$BUILD_HASH" > "$BUILD_STAMP"
fi
log "ready: $("$VPY" -c 'import lecinpaint.ops as o, torch; print("torch", torch.__version__, "| extension:", o.extension_available(), "| CUDA kernels:", o.has_cuda_kernels())')"
