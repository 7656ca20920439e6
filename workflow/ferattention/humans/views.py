"""What a participant saw when answering: the stimulus uncovered by the trial's clicks.

The browser experiment (:mod:`ferattention.experiment`) hides the face at first and every click
uncovers a disk of ``humans.reveal_radius`` stimulus pixels. The same view at the model input size
lets each model answer the human trials on exactly the information the participant had: the
prepared image inside the union of the trial's disks (:func:`~.maps.trial_map`, the very mask the
human maps and ``revealed_fraction`` use), and the hidden stimulus elsewhere. The hiding follows
the experiment's ``experiment.hiding`` setting:

* ``blur``: the image blurred with a Gaussian of ``experiment.hiding_blur`` stimulus pixels,
  converted to model pixels with the stimulus-to-model scale (``scipy.ndimage.gaussian_filter``,
  borders extended by the nearest pixel, as PIL's ``GaussianBlur`` in the experiment does);
* ``mask``: a uniform gray field of :data:`MASK_VALUE`, the experiment's ``MASK_COLOR``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy.ndimage import gaussian_filter

from ..catalogue import schema_defaults
from .maps import Geometry, _clicks_by_trial, _trial_rows, stimulus_to_model_scale, trial_map

#: Defaults of the experiment settings (hiding): the config schema (their one source).
_EXPERIMENT = schema_defaults("experiment")
_HIDING, _HIDING_BLUR = _EXPERIMENT["hiding"], float(_EXPERIMENT["hiding_blur"])

#: How the hidden part is shown (the values of ``experiment.hiding``).
HIDINGS: tuple[str, ...] = ("blur", "mask")
#: Gray of ``hiding: mask`` in [0, 1] image units: the experiment's ``MASK_COLOR`` ``#808080``.
MASK_VALUE: float = 128 / 255


def hidden_image(image: np.ndarray, hiding: str = _HIDING, sigma: float | tuple[float, float] = 0.0
                 ) -> np.ndarray:
    """The hidden stimulus of one image (S, S) in [0, 1], float32 (S, S).

    ``hiding``: ``blur`` (Gaussian of ``sigma`` model pixels, a pair = (rows, columns)) or
    ``mask`` (uniform :data:`MASK_VALUE`; ``sigma`` is ignored).
    """
    image = np.asarray(image, dtype=np.float32)
    if hiding == "mask":
        return np.full(image.shape, MASK_VALUE, dtype=np.float32)
    if hiding == "blur":
        return gaussian_filter(image, sigma, mode="nearest").astype(np.float32)
    raise ValueError(f"hiding must be one of {HIDINGS}, got {hiding!r}")


def uncovered_views(images: Mapping[str, np.ndarray], trials: pd.DataFrame, clicks: pd.DataFrame,
                    image_size: int, reveal_radius: float, hiding: str = _HIDING,
                    hiding_blur: float = _HIDING_BLUR,
                    geometries: Mapping[str, Geometry] | None = None) -> np.ndarray:
    """The stimulus of every trial as uncovered at the answer, float32 ``(n_trials, S, S)``.

    ``images``: image_id -> prepared image float (S, S) in [0, 1]; ``trials`` and ``clicks`` as
    returned by :func:`~.ingest.load_human_data` (``trials`` with ``stimulus_width,
    stimulus_height``); rows of the result follow the rows of ``trials``. ``reveal_radius`` and
    ``hiding_blur`` are in stimulus pixels (``humans.reveal_radius``,
    ``experiment.hiding_blur``); ``hiding`` is ``experiment.hiding``. A trial without clicks
    gives the fully hidden image; pixels are uncovered exactly where :func:`~.maps.trial_map`
    is positive (same coordinate mapping and ``geometries`` as the human maps).
    """
    if hiding not in HIDINGS:
        raise ValueError(f"hiding must be one of {HIDINGS}, got {hiding!r}")
    if hiding == "blur" and not hiding_blur > 0:
        raise ValueError(f"hiding_blur must be > 0, got {hiding_blur}")
    geometries = geometries or {}
    by_trial = _clicks_by_trial(clicks)
    views = np.empty((len(trials), image_size, image_size), dtype=np.float32)
    hidden_cache: dict[tuple[str, float, float], np.ndarray] = {}
    for n, (pid, tid, image_id, width, height) in enumerate(_trial_rows(trials)):
        if image_id not in images:
            raise KeyError(f"no prepared image for image_id {image_id!r} "
                           f"(trial {tid!r} of participant {pid!r})")
        image = np.asarray(images[image_id], dtype=np.float32)
        if image.shape != (image_size, image_size):
            raise ValueError(f"image {image_id!r} has shape {image.shape}, "
                             f"expected {(image_size, image_size)}")
        key = (image_id, float(width), float(height))
        if key not in hidden_cache:
            sx, sy = stimulus_to_model_scale(width, height, image_size, geometries.get(image_id))
            hidden_cache[key] = hidden_image(image, hiding, (hiding_blur * sy, hiding_blur * sx))
        views[n] = hidden_cache[key]
        if (pid, tid) in by_trial:
            x, y = by_trial[(pid, tid)]
            shown = trial_map(x, y, width, height, image_size, reveal_radius,
                              geometry=geometries.get(image_id)) > 0
            views[n][shown] = image[shown]
    return views


def human_view_predictions(model: Any, classes: Sequence[str], images: Mapping[str, np.ndarray],
                           trials: pd.DataFrame, clicks: pd.DataFrame, image_size: int,
                           reveal_radius: float, hiding: str = _HIDING, hiding_blur: float = _HIDING_BLUR,
                           geometries: Mapping[str, Geometry] | None = None,
                           batch_size: int = 1024) -> pd.DataFrame:
    """A model's 2AFC answers to every human trial on the view uncovered at the answer.

    ``model`` (a torch module, classes ``classes``) sees :func:`uncovered_views` of the trials,
    ``batch_size`` trials at a time, and answers as :func:`~ferattention.trials.answer_2afc`
    does (the option with the larger logit; ties: option a). ``trials`` need ``participant_id,
    trial_id, image_id, option_a, option_b, label, stimulus_width, stimulus_height``. Returns
    ``participant_id, trial_id, image_id, option_a, option_b, label, answer, correct,
    logit_<class>...``, rows aligned with ``trials``.
    """
    from .. import training
    from ..trials import answer_2afc

    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    trials = trials.reset_index(drop=True)
    logits = np.zeros((len(trials), len(classes)), np.float32)
    for start in range(0, len(trials), batch_size):
        part = trials.iloc[start:start + batch_size]
        views = uncovered_views(images, part, clicks, image_size, reveal_radius, hiding,
                                hiding_blur, geometries)
        logits[start:start + len(part)] = training.predict_logits(model, views)
    # each trial has its own view: key the logits by trial position for answer_2afc
    keys = pd.Index(np.arange(len(trials)).astype(str), name="image_id")
    answers = answer_2afc(pd.DataFrame(logits, columns=list(classes), index=keys),
                          trials.assign(image_id=keys))
    out = trials[["participant_id", "trial_id", "image_id", "option_a", "option_b", "label"]].copy()
    out["answer"] = answers.to_numpy()
    out["correct"] = out["answer"] == out["label"]
    return pd.concat([out, pd.DataFrame(logits, columns=[f"logit_{c}" for c in classes])], axis=1)
