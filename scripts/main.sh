#!/usr/bin/env bash
# The main job: set everything up (idempotent), make the bundled example lecture clip, remove the lecturer
# from it with the default pipeline, and write a before/after contact sheet.
#   example/lecture.mp4        the generated input (board, writing, a lecturer walking in front, audio)
#   example/lecture_clean.mp4  the result (audio kept)
#   example/preview.png        input / mask / output side by side
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup.sh"
cd "$ROOT"
mkdir -p example
.venv/bin/lecinpaint example -y example/lecture.mp4
.venv/bin/lecinpaint -y example/lecture.mp4 -o example/lecture_clean.mp4 --preview example/preview.png
echo "main job: wrote example/lecture_clean.mp4 and example/preview.png" >&2
