"""The lecture benchmark: synthetic lecture clips with exact ground truth, metrics, baselines, one runner.

    generator   make_clip(seed, size, n_frames, camera) -> Clip (streaming, random access)
    metrics     PSNR / SSIM (whole frame and inside the person mask), handwriting F1, flicker
    baselines   per-frame Telea inpainting, temporal median, last-seen background
    run         python -m benchmarks.lecture.run [--quick] [--out DIR]
"""
