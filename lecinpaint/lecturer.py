"""The whole lecturer: a segmentation stage that leaves nothing of the person behind.

A face-centred person model (mediapipe's selfie segmentation) finds the lecturer's head and torso well,
but in a wide lecture shot the lecturer is a full body far from the camera: the model drops lower legs,
feet, hands far from the face, what they hold, and now and then the whole body for a frame; a body cut
by the frame's edge or walking in is often not found at all. This stage adds cues that do not depend on
the model's idea of a person:

1. **Focus.** The model sees a 256x256 picture. After the first detection it also runs on a crop around
   the lecturer (the last hole grown by a margin), where the body fills the model's input; the full
   frame keeps being looked at every few frames so that a second person or a re-entry is found.
2. **The board.** The board behind the lecturer is static in the camera's frame.
   :class:`~lecinpaint.board_picture.BoardModel` keeps a registered picture of it (each frame's pixels
   outside the hole; global translation and gain tracked; a shift is kept only if it explains the frame
   better than a still camera), and a region that differs from it is foreground. Foreground that is
   *thick* (it survives an opening wider than a pen stroke) and *connected* to the detected body, or
   that enters through the frame's edge, belongs to the lecturer: legs, feet, held objects, the body the
   model lost. New handwriting never qualifies: strokes are thin, and the opening removes them before
   anything is connected.
3. **The floor.** A lecturer walks along the board on one floor: where their feet end is learned over the
   last two seconds (:class:`~lecinpaint.figure.Floor`, from what the model and the board cue found), and
   a figure that ends well above it (the model stopped at the knees) is continued down to it, widening
   like legs in a stride. Every figure also gets a short floor under its lowest pixels (the model ends
   people at the ankles).
4. **Around the feet.** A foot in mid-stride, a shoe held apart from the leg by an ankle too thin for
   anyone to see, a foot entering the frame: near the floor they are often several pixels from the
   body and thinner than the board cue's opening. In a zone around the figure's feet
   (:func:`~lecinpaint.figure.near_feet`) what differs from the board counts as lecturer when it
   survives a much finer opening (2 px strokes do not), stands on the floor or nearly (a stroke is
   written on the board, higher up), and does not run on beyond the zone (a tray's edge or a rail that a
   slight misregistration lights up, a pointer). These parts are hole and are not recorded as board,
   but the next frame's board cue does not grow from them (a chain of them would creep along the
   tray). The cue waits until the picture has settled (at a stream's start the picture may still hold
   the legs the model missed, and where they stood the board differs from it), and it is off while the
   body runs out of the frame's bottom (no feet in view: a close-up, where the lecturer writes right
   next to the body's lowest pixels).
5. **Looking back.** All of these know least at a stream's start (and after a cut): no crop yet, no
   picture of the board, no floor. Legs missed there stay out of the hole, and the engine's memory of the
   board carries them into later frames. So the first ``look_back`` frames (12) are held back by the
   engine's intake (:func:`lecinpaint.intake.segment_stream`) and looked at again together once the
   picture has that many frames in it (:meth:`LecturerSegmenter.look_back`). The engine's lookahead hides
   the wait at a stream's start; after a cut (or a camera move too fast for the picture to follow) the
   output waits those frames once.

Two guards keep the additions honest: the model's unsure pixels (probability above the low threshold)
count only when connected to a confident core (hysteresis: the selfie model gives 0.2-0.45 to dense
handwriting), and the board cue and looking back add only thick parts connected to the body. Time is
handled downstream by :class:`lecinpaint.masks.MaskStabilizer` (a part present before and after cannot
vanish for a frame) and the hole's dilation.

Measured on the lecture benchmark's full-body clips (``benchmarks/lecture/segmentation.py``, full mode;
this stage, the stabiliser and the default dilation, against the exact person masks): share of the person
left outside the hole, mean over frames / frames with more than 1 % of the person left / frames with no
pixel left, the hole's area over the truth dilated by the default radius, and the PSNR gap in the mask
against exact masks:

=====================  ==========================  ==========================  ==========================
clip                   bare selfie model           stage, not around the feet  this stage (default)
=====================  ==========================  ==========================  ==========================
static 360p            0.336 %, 7/96, 89 %, 1.07   0.084 %, 2/96, 97 %, 1.14   0.005 %, 0/96, 99 %, 1.15
                       +9.2 dB                     -0.1 dB                     -0.7 dB
shaking 360p           0.144 %, 3/96, 83 %, 1.14   0.032 %, 1/96, 98 %, 1.16   0.032 %, 1/96, 99 %, 1.16
                       +1.2 dB                     +0.6 dB                     +0.6 dB
panning 360p           0.295 %, 4/96, 70 %, 0.97   0.018 %, 0/96, 77 %, 1.08   0.018 %, 0/96, 77 %, 1.08
                       +5.2 dB                     +0.1 dB                     +0.1 dB
stands still 360p      0.109 %, 3/120, 91 %, 1.02  0.004 %, 0/120, 98 %, 1.05  0.000 %, 0/120, 99 %, 1.05
                       +4.0 dB                     +0.2 dB                     -0.0 dB
walks in and out 360p  2.03 %, 18/108, 61 %, 0.97  0.286 %, 3/108, 87 %, 1.04  0.069 %, 2/108, 93 %, 1.06
                       +8.2 dB                     +1.0 dB                     +0.4 dB
cut by the frame 360p  1.82 %, 45/96, 47 %, 1.03   0 %, 0/96, 100 %, 1.19      0 %, 0/96, 100 %, 1.19
                       +2.0 dB                     +0.5 dB                     +0.5 dB
static 720p            0.035 %, 0/48, 65 %, 1.03   0 %, 0/48, 100 %, 1.09      0 %, 0/48, 100 %, 1.09
                       +1.3 dB                     +0.0 dB                     +0.0 dB
walks in and out 720p  5.60 %, 23/56, 43 %, 1.05   0.445 %, 7/56, 86 %, 1.06   0.157 %, 4/56, 88 %, 1.08
                       +14.8 dB                    +1.5 dB                     +1.1 dB
=====================  ==========================  ==========================  ==========================

On the lecture benchmark's 24-frame 720p clip (a lecturer in a stride from the first frame, legs the
model misses there) the PSNR in the mask with this stage went from 20.6 to 32.3 dB with looking back and
the floor, and to 38.3 dB once looking back also kept the next frame's trailing shoe a few pixels from
the leg (exact masks: 41.7 dB, both with the row-wise board fill): what is left is a hand and a foot
in mid-step for a frame or two. On the real whiteboard clip no stage
leaves a trace (no pixel beyond 60 grey levels from the clean board in a band around the hole). What is
still missed: the first frame or two of someone walking in (a sliver one or two pixels wide at the
edge, a foot entering before the body), a foot in a wide stride during the first frames of a stream
(before the cue around the feet starts) or where it looks like the board, the faint fringe of a shoe a
few pixels beyond the hole under a panning camera, and legs the model misses while they stand where
the board behind them was never seen (the floor covers them when the model keeps the knees). The pose
model inside (``"mediapipe:lecturer-pose"``) costs about four times as much.

Convention (as for every segmenter): ``__call__(frame)`` with ``(H, W, 3)`` uint8 RGB, the frames of one
stream in order, returns an ``(H, W)`` float32 person probability in ``[0, 1]``; pixels that the board
cue adds are 1.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import cv2
import numpy as np

from lecinpaint.board_picture import BoardModel, disc, working_size
from lecinpaint.figure import (
    Floor,
    attached,
    box_of,
    crop_around,
    feet_below,
    near_feet,
    scale_box,
    touching,
    upsample,
    weak_blobs,
)
from lecinpaint.masks import dilate

__all__ = ["BoardModel", "LecturerSegmenter"]


def _thick(mask: np.ndarray, element: np.ndarray) -> np.ndarray:
    """``mask`` (bool) opened by ``element``: what is wider than a pen stroke."""
    return cv2.morphologyEx(mask.view(np.uint8), cv2.MORPH_OPEN, element).view(bool)


class LecturerSegmenter:
    """Model + focus + board cue (see the module docstring).

    Args:
        model: the person cue: a mediapipe model name, ``"selfie"`` (default), ``"pose"`` or
            ``"combined"``, or any segmenter (a callable from an ``(h, w, 3)`` uint8 RGB picture of any
            size to an ``(h, w)`` probability; with ``focus`` it is also called on crops).
        focus: also run the model on a crop around the lecturer.
        board: use the board cue.
        threshold: the person probability above which the model's output counts as body, for the
            pixels connected to a *core* above ``core`` (hysteresis: the model is unsure of limbs, but an
            isolated unsure blob is not a person: the selfie model gives 0.2-0.45 to dense handwriting).
        full_every: with ``focus``, the whole frame is looked at every this many frames.
        feet: the body is extended below its lowest pixels by this fraction of its height: the model
            ends people at the ankles, and feet in front of a board's tray differ little from it.
        look_back: with ``board``, the first this many frames of a stream (and of each restart of the
            board picture, after a cut) are looked at again, by :meth:`look_back`, once the picture has
            that many frames in it (see :attr:`settling`).
    """

    def __init__(
        self,
        model: str | Callable[[np.ndarray], np.ndarray] = "selfie",
        *,
        focus: bool = True,
        board: bool = True,
        threshold: float = 0.2,
        core: float = 0.6,
        full_every: int = 4,
        feet: float = 0.08,
        look_back: int = 12,
    ) -> None:
        if not 0.0 <= threshold < core <= 1.0:
            raise ValueError(f"need 0 <= threshold < core <= 1, got threshold={threshold!r}, core={core!r}")
        if int(full_every) != full_every or full_every < 1:
            raise ValueError(f"full_every must be a positive integer, got {full_every!r}")
        if not 0.0 <= feet < 1.0:
            raise ValueError(f"feet is a fraction of the body's height in [0, 1), got {feet!r}")
        if int(look_back) != look_back or look_back < 0:
            raise ValueError(f"look_back must be a non-negative integer number of frames, got {look_back!r}")
        self._owned: list[Any] = []
        self._model_name = model
        self._look: Callable[[np.ndarray], np.ndarray] | None = None
        if isinstance(model, str):
            from lecinpaint.segmentation import MediaPipeSegmenter

            self._model: Callable[[np.ndarray], np.ndarray] = MediaPipeSegmenter(model)
            self._owned.append(self._model)
            self._crop_model: Callable[[np.ndarray], np.ndarray] | None = None
            if focus:
                self._crop_model = MediaPipeSegmenter(model)
                self._owned.append(self._crop_model)
        else:
            self._model = model
            self._crop_model = model if focus else None
        self.board = BoardModel() if board else None
        self.threshold = float(threshold)
        self.core = float(core)
        self.feet = float(feet)
        self.full_every = int(full_every)
        self.look_back_frames = int(look_back) if board else 0
        self._n = 0
        self._last_body: np.ndarray | None = None
        self._box: tuple[int, int, int, int] | None = None
        self._floor = Floor()
        self._resets = 0

    # ------------------------------------------------------------------------------------------------
    def __call__(self, frame: np.ndarray) -> np.ndarray:
        from lecinpaint.segmentation import _check_frame

        frame = _check_frame(frame)
        h, w = frame.shape[:2]
        prob = self._person(frame)
        if not prob.flags.writeable:
            prob = prob.copy()
        sh, sw = self._small_size(h, w)
        full = (sh, sw) == (h, w)
        # The board first: a cut it detects (the picture restarts) also makes the floor forgotten before
        # this frame's body uses it.
        fg = self.board.foreground(frame) if self.board is not None else None
        if self.board is not None and self.board.resets != self._resets:
            self._resets = self.board.resets  # a cut: the last shot's floor says nothing of this one
            self._floor.clear()
        body, add, found = self._model_body(prob)
        model_body = body
        if self.board is not None:
            if fg is not None and fg.any():
                extra = attached(fg, body, self._last_body, reach=max(2, int(round(0.01 * min(sh, sw)))))
                if extra.any():
                    add = extra if add is None else add | extra
                    body = body | extra
                    found = found | extra
            # Parts around the feet are hole, and not recorded as board, but no anchor for the next
            # frame's cue: a chain of them would creep along the tray. Not while the picture settles: it
            # may still hold legs the model missed, and where they stood the board would differ from it.
            # Not when what was found runs out of the frame's bottom: no feet in view (a close-up, where
            # the lecturer writes right next to the body's lowest pixels).
            feet = None
            if self.board.raw is not None and not self.settling and not found[-1].any():
                feet = near_feet(self.board.raw, body)
            if feet is not None:
                add = feet if add is None else add | feet
            hole = body if feet is None else body | feet
            grow = max(2, int(round(0.03 * min(sh, sw))))
            grown_model = dilate(model_body, grow)
            # Without additions of the board cue the two are one mask: one distance transform.
            self.board.update(grown_model if hole is model_body else dilate(hole, grow), grown_model)
        # The floor is learned from what was found, never from what the floor itself added.
        self._floor.add(found)
        if add is not None and add.any():
            prob[add if full else upsample(add, h, w)] = 1.0
        self._last_body = body
        box = box_of(body)
        self._box = None if box is None else scale_box(box, h / sh, w / sw, h, w)
        self._n += 1
        return prob

    def _small_size(self, h: int, w: int) -> tuple[int, int]:
        # The cues work at the board's working size (at most 640 px wide): what they decide is blocky at
        # 1080p by a few pixels, far inside the hole's dilation, and costs a ninth.
        return working_size(h, w, self.board.max_side if self.board is not None else 640)

    def _model_body(self, prob: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
        """The model's body at the working size (hysteresis, then the floor under the feet), the feet
        added (None if none), and the body without them; the weak blobs are zeroed in ``prob``
        (writeable) itself."""
        h, w = prob.shape
        sh, sw = self._small_size(h, w)
        full = (sh, sw) == (h, w)
        small = prob if full else cv2.resize(prob, (sw, sh), interpolation=cv2.INTER_AREA)
        drop = weak_blobs(small, self.threshold, self.core)
        if drop is not None:
            small[drop] = 0.0
            if not full:
                prob[upsample(drop, h, w)] = 0.0
        bare = body = small > self.threshold
        add = feet_below(body, self.feet, self._floor.row())
        if add is not None:
            body = body | add
        return body, add, bare

    @property
    def settling(self) -> bool:
        """True while the board picture is younger than ``look_back`` frames (the stream's start, or just
        after a cut): the board cue has had little or nothing to compare with, so the frames segmented
        now should be looked at again with :meth:`look_back` once this turns False."""
        return self.board is not None and self.board.age < self.look_back_frames

    def look_back(self, frames: list[np.ndarray], probs: list[np.ndarray]) -> list[np.ndarray]:
        """``probs`` (this segmenter's outputs for the earlier, consecutive ``frames`` of this stream, in
        order) revised with what is known now. Never removes anything from a probability map.

        At the start of a stream every cue is weakest: the crop follows the lecturer only from the second
        frame and grows onto the legs over a few frames, the board picture has nothing to compare with,
        and the floor under the feet is not known yet, so legs that the model misses in the first frames
        stay out of the hole (and the picture records them as board, and the engine's memory too). A few
        frames later all three know more. Each frame is looked at again:

        1. the model run again on a crop around the lecturer as placed now and in that frame, with the
           floor known now;
        2. the board cue against the board as known now: thick regions that differ from it and touch the
           body (or enter through the frame's edge);
        3. planted parts: from the last frame back to the first, the body of the next frame where this
           frame shows the same pixels (a foot that stands still is body in both);
        4. the next frame's own body: the temporal stabiliser keeps a part that is body before and after
           a frame, but at a stream's start there is no before, so a part of the next frame's body is kept.

        Steps 3 and 4 add only thick parts near the frame's own body: touching it (step 3), or within three
        times that distance (step 4: a trailing shoe whose thin ankle nobody saw is a few pixels from the
        leg; only one frame back, so a lecturer's path cannot creep back along the chain).

        No state changes (the board picture, the floor, the crop): the model of step 1 is one of its own,
        so a model that follows a person over time is not disturbed.
        """
        out = [self._look_again(f, p) for f, p in zip(frames, probs)]
        if self.board is None or len(out) < 2:
            return out
        h, w = out[0].shape
        sh, sw = self._small_size(h, w)
        full = (sh, sw) == (h, w)

        def small(img: np.ndarray) -> np.ndarray:
            return img if full else cv2.resize(img, (sw, sh), interpolation=cv2.INTER_AREA)

        reach = max(2, int(round(0.02 * min(sh, sw))))
        far = 3 * reach  # step 4's distance (see the docstring)
        thick = disc(max(1, int(round(self.board.opening * min(sh, sw)))))
        later_img = small(frames[-1])
        later_body = later_own = small(out[-1]) > self.threshold
        for t in range(len(out) - 2, -1, -1):
            img = small(frames[t])
            body = small(out[t]) > self.threshold
            d = cv2.split(cv2.absdiff(img, later_img))
            same = cv2.max(cv2.max(d[0], d[1]), d[2]) < 0.5 * self.board.threshold
            # Thick parts only (a foot, not the strokes a later frame's hole may hold), connected to this
            # frame's own body. 3: the body carried back along the chain where the pixels stay the same;
            # 4: the next frame's own body, not carried further (a walking lecturer's path would creep
            # back along the chain over the unchanged board ahead of them).
            planted = touching(_thick(later_body & same & ~body, thick), body, reach)
            kept = touching(_thick(later_own & ~body, thick), body, far)
            later_img, later_own = img, body
            later_body = body if planted is None else body | planted
            add = planted if kept is None else kept if planted is None else planted | kept
            if add is not None:
                out[t][add if full else upsample(add, h, w)] = 1.0
        return out

    def _look_again(self, frame: np.ndarray, prob: np.ndarray) -> np.ndarray:
        """Steps 1 and 2 of :meth:`look_back` for one frame (a new array)."""
        from lecinpaint.segmentation import _check_frame

        frame = _check_frame(frame)
        h, w = frame.shape[:2]
        out = np.array(prob, dtype=np.float32, copy=True)
        sh, sw = self._small_size(h, w)
        full = (sh, sw) == (h, w)
        looked = self._look_model()
        if looked is not None and self._box is not None:
            small = out if full else cv2.resize(out, (sw, sh), interpolation=cv2.INTER_AREA)
            own = box_of(small > self.threshold)
            box = self._box
            if own is not None:
                o = scale_box(own, h / sh, w / sw, h, w)
                box = (min(box[0], o[0]), max(box[1], o[1]), min(box[2], o[2]), max(box[3], o[3]))
            y0, y1, x0, x1 = crop_around(box, h, w)
            seen = np.zeros((h, w), np.float32)
            seen[y0:y1, x0:x1] = looked(np.ascontiguousarray(frame[y0:y1, x0:x1]))
            body, add, _ = self._model_body(seen)
            seen_body = upsample(body, h, w) if not full else body
            # Only what the second look adds to the first: the body it finds where the first look had none.
            np.maximum(out, np.where(seen_body, np.maximum(seen, self.threshold + 1e-3), 0.0), out=out)
            if add is not None:
                out[add if full else upsample(add, h, w)] = 1.0
        # The floor under the feet as known now (the first frames had none to go by).
        small = out if full else cv2.resize(out, (sw, sh), interpolation=cv2.INTER_AREA)
        body = small > self.threshold
        add = feet_below(body, self.feet, self._floor.row())
        if add is not None:
            out[add if full else upsample(add, h, w)] = 1.0
            body = body | add
        if self.board is None:
            return out
        fg = self.board.look_back(frame, body)
        if fg is None:
            return out
        # The picture never records a band around the model's body (``grow`` in ``__call__``), so a limb
        # that the model missed shows as different only beyond that band.
        reach = max(2, int(round(0.03 * min(sh, sw)))) + 1
        extra = attached(fg, body, None, reach=reach) & ~body
        if extra.any():
            out[extra if full else upsample(extra, h, w)] = 1.0
        return out

    def _look_model(self) -> Callable[[np.ndarray], np.ndarray] | None:
        """The model of :meth:`look_back` (created on first use; None without ``focus``)."""
        if self._crop_model is None:
            return None
        if self._look is None:
            if isinstance(self._model_name, str):
                from lecinpaint.segmentation import MediaPipeSegmenter

                self._look = MediaPipeSegmenter(self._model_name)
                self._owned.append(self._look)
            else:
                self._look = self._crop_model
        return self._look

    def _person(self, frame: np.ndarray) -> np.ndarray:
        h, w = frame.shape[:2]
        box = self._box
        if self._crop_model is None or box is None:
            return self._model(frame)
        y0, y1, x0, x1 = crop_around(box, h, w)
        crop = np.ascontiguousarray(frame[y0:y1, x0:x1])
        prob = np.zeros((h, w), np.float32)
        prob[y0:y1, x0:x1] = self._crop_model(crop)
        if self._n % self.full_every == 0 or (y1 - y0) * (x1 - x0) >= 0.8 * h * w:
            np.maximum(prob, self._model(frame), out=prob)
        return prob

    def close(self) -> None:
        """Release the models this segmenter created (a model passed in is the caller's to close)."""
        for m in self._owned:
            m.close()
        self._owned.clear()

    def __enter__(self) -> LecturerSegmenter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
