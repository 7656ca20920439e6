"""The browser experiment that collects real click data (docs/design.md §4.6 and §7).

:func:`export_experiment` writes a self-contained static web experiment: ``index.html``,
``experiment.js`` and ``style.css`` (copied from ``experiment_assets/``), ``config.js`` (the
settings), ``trials.js`` (the stimuli and their 2AFC trials) and ``stimuli/`` (each image scaled
to the stimulus size, plus a blurred copy when the face is hidden by blur). It runs from any static
file server, or straight from disk (``file://``): the data files are plain scripts, nothing is
fetched from the network.

A participant sees every test image once (or ``images_per_participant`` of them), in an order
drawn from their participant id, in one of the image's trials drawn the same way, with the two
options on randomly chosen sides. The page writes the two CSV files that
:func:`ferattention.humans.load_human_data` reads: ``option_a``/``option_b`` are the left/right
buttons as shown, ``x, y`` are pixels of the stimulus as shown (``stimulus_width`` x
``stimulus_height``, origin top-left), ``t_ms`` is the time since trial onset and ``rt_ms`` the
time of the answer. Each participant's files are downloaded (``<id>_trials.csv``,
``<id>_clicks.csv``) and optionally POSTed; :func:`combine_sessions` joins the files of many
participants into the two files of ``humans.trials`` and ``humans.clicks``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image, ImageFilter

from . import io
from .humans.ingest import CLICK_COLUMNS, OPTIONAL_TRIAL_COLUMNS, TRIAL_COLUMNS

#: The static files of the experiment (package data).
ASSETS_DIR = Path(__file__).with_name("experiment_assets")
ASSET_FILES: tuple[str, ...] = ("index.html", "experiment.js", "style.css")
HIDINGS: tuple[str, ...] = ("blur", "mask")
#: Fill of the hidden face with ``hiding: mask`` (mid-gray).
MASK_COLOR = "#808080"


@dataclass(frozen=True)
class ExperimentSettings:
    """What the exported experiment does; see the ``experiment`` keys of the config schema.

    ``reveal_radius`` (stimulus pixels) is ``humans.reveal_radius``, so the disks people uncover
    are the disks the analysis paints. ``hiding_blur`` is the Gaussian sigma (stimulus pixels)
    of the blurred face (``hiding: blur``); ``hiding: mask`` shows a uniform gray field instead.
    """

    reveal_radius: float
    stimulus_size: int = 256
    hiding: str = "blur"
    hiding_blur: float = 20.0
    practice_trials: int = 3
    images_per_participant: int | None = None
    response_keys: tuple[str, str] = ("f", "j")
    iti_ms: int = 500
    post_url: str | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        problems = []
        if not self.reveal_radius > 0:
            problems.append(f"reveal_radius must be > 0, got {self.reveal_radius}")
        if not (isinstance(self.stimulus_size, int) and self.stimulus_size >= 16):
            problems.append(f"stimulus_size must be an integer >= 16, got {self.stimulus_size}")
        if self.hiding not in HIDINGS:
            problems.append(f"hiding must be one of {HIDINGS}, got {self.hiding!r}")
        if not self.hiding_blur > 0:
            problems.append(f"hiding_blur must be > 0, got {self.hiding_blur}")
        if self.practice_trials < 0:
            problems.append(f"practice_trials must be >= 0, got {self.practice_trials}")
        if self.images_per_participant is not None and self.images_per_participant < 1:
            problems.append(f"images_per_participant must be >= 1 or null, "
                            f"got {self.images_per_participant}")
        keys = tuple(self.response_keys)
        if len(keys) != 2 or any(len(k) != 1 for k in keys) or keys[0].lower() == keys[1].lower():
            problems.append(f"response_keys must be two different single characters, got {keys}")
        if self.iti_ms < 0:
            problems.append(f"iti_ms must be >= 0, got {self.iti_ms}")
        if problems:
            raise ValueError("experiment settings: " + "; ".join(problems))

    @classmethod
    def from_config(cls, experiment: Mapping[str, Any], reveal_radius: float
                    ) -> ExperimentSettings:
        """From the validated ``experiment`` config object and ``humans.reveal_radius``."""
        values = dict(experiment)
        if "response_keys" in values:
            values["response_keys"] = tuple(values["response_keys"])
        return cls(reveal_radius=reveal_radius, **values)


def plan_stimuli(manifest: pd.DataFrame, trials: pd.DataFrame, settings: ExperimentSettings
                 ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Which images the experiment shows, with their trials; pure (no files).

    Parameters
    ----------
    manifest
        The prepared manifest: ``image_id, label, split, path``.
    trials
        The model trial list (``results/data/trials.csv``): ``trial_id, image_id, option_a,
        option_b, label``. Every image in it is a main stimulus, with all its trials (the page
        draws one per participant).
    settings
        ``practice_trials`` and ``seed`` choose the practice images: images outside the test
        split (never shown in the main part), each with its label and one other expression of
        the run as options.

    Returns
    -------
    main
        One record per image, sorted by image_id: ``image_id, source`` (image path as given in
        the manifest) and ``trials`` (list of ``trial_id, option_a, option_b``).
    practice
        One record per practice image: ``image_id, source, label, option_a, option_b``.
    """
    for name, frame, cols in (("manifest", manifest, ("image_id", "label", "split", "path")),
                              ("trials", trials, ("trial_id", "image_id", "option_a",
                                                  "option_b", "label"))):
        missing = sorted(set(cols) - set(frame.columns))
        if missing:
            raise ValueError(f"{name} lacks column(s) {missing}")
    manifest = manifest.astype(str)
    trials = trials.astype(str)
    if trials.empty:
        raise ValueError("the trial list is empty: there is nothing to show")
    path_of = dict(zip(manifest["image_id"], manifest["path"]))
    unknown = sorted(set(trials["image_id"]) - set(path_of))
    if unknown:
        raise ValueError(f"trial list image(s) not in the manifest: {unknown[:10]}")

    main = []
    for image_id, group in trials.groupby("image_id", sort=True):
        main.append({"image_id": image_id, "source": path_of[image_id],
                     "trials": group[["trial_id", "option_a", "option_b"]].to_dict("records")})

    expressions = sorted(set(trials["option_a"]) | set(trials["option_b"]))
    shown = set(trials["image_id"])
    candidates = manifest[(manifest["split"] != "test") & ~manifest["image_id"].isin(shown)
                          & manifest["label"].isin(expressions)].sort_values("image_id")
    n = settings.practice_trials
    if len(candidates) < n:
        raise ValueError(
            f"experiment.practice_trials is {n} but only {len(candidates)} image(s) outside the "
            f"test split can serve as practice (practice never uses a test image); lower "
            f"experiment.practice_trials (0 is allowed)")
    rng = np.random.default_rng(settings.seed)
    practice = []
    for row in candidates.iloc[np.sort(rng.choice(len(candidates), n, replace=False))].itertuples():
        foil = str(rng.choice([e for e in expressions if e != row.label]))
        a, b = (row.label, foil) if rng.random() < 0.5 else (foil, row.label)
        practice.append({"image_id": row.image_id, "source": row.path, "label": row.label,
                         "option_a": a, "option_b": b})
    return main, practice


def export_experiment(manifest_path: str | os.PathLike, trials_path: str | os.PathLike,
                      out_dir: str | os.PathLike, settings: ExperimentSettings
                      ) -> dict[str, Any]:
    """Write the static experiment for the images of ``trials_path`` into ``out_dir``.

    ``manifest_path``: the prepared manifest (image ``path`` relative to its folder);
    ``trials_path``: the model trial list. The folder is built beside ``out_dir`` and renamed
    into place at the end (an existing ``out_dir`` is replaced), so a failure leaves no partial
    experiment. Returns a summary: ``n_images`` (test images), ``per_participant`` (trials
    each participant does), ``n_practice``, ``stimulus_width``, ``stimulus_height``.
    """
    manifest_path, out_dir = Path(manifest_path), Path(out_dir)
    manifest = pd.read_csv(manifest_path, dtype=str, keep_default_na=False)
    trials = pd.read_csv(trials_path, dtype=str, keep_default_na=False)
    main, practice = plan_stimuli(manifest, trials, settings)

    # The web folder appears whole or not at all (io.atomic_dir gives it normal permissions).
    with io.atomic_dir(out_dir) as tmp:
        for name in ASSET_FILES:
            shutil.copyfile(ASSETS_DIR / name, tmp / name)
        (tmp / "stimuli").mkdir()
        size = None
        for number, record in enumerate([*main, *practice], start=1):
            files, shape = _write_stimulus(manifest_path.parent / record.pop("source"),
                                           tmp / "stimuli", f"{number:04d}", settings)
            if size is not None and shape != size:
                raise ValueError(f"image {record['image_id']!r} gives a {shape[0]}x{shape[1]} "
                                 f"stimulus, the others {size[0]}x{size[1]}: prepared images "
                                 f"must all have the same size")
            size = shape
            record.update(files)
        width, height = size
        config = {
            **{k: v for k, v in asdict(settings).items() if k != "seed"},
            "response_keys": [k.lower() for k in settings.response_keys],
            "stimulus_width": width, "stimulus_height": height, "mask_color": MASK_COLOR,
            "trial_columns": [*TRIAL_COLUMNS, *OPTIONAL_TRIAL_COLUMNS],
            "click_columns": list(CLICK_COLUMNS),
        }
        _write_js(tmp / "config.js", "FER_CONFIG", config,
                  "Settings of the experiment. post_url may be edited here after export.")
        _write_js(tmp / "trials.js", "FER_TRIALS", {"main": main, "practice": practice},
                  "Stimuli and their 2AFC trials (one trial per image is drawn per participant).")
    per_participant = min(len(main), settings.images_per_participant or len(main))
    return {"n_images": len(main), "per_participant": per_participant,
            "n_practice": len(practice), "stimulus_width": width, "stimulus_height": height}


def _write_stimulus(source: Path, folder: Path, stem: str, settings: ExperimentSettings
                    ) -> tuple[dict[str, str | None], tuple[int, int]]:
    """Scale one prepared image to the stimulus size (and blur a copy); return its file names."""
    try:
        with Image.open(source) as opened:
            image = opened.convert("L" if opened.mode in ("L", "I;16", "I", "F", "1") else "RGB")
    except (FileNotFoundError, OSError) as err:
        raise ValueError(f"cannot read prepared image {source}: {err}") from None
    # The longer side becomes stimulus_size (prepared images are square: both are).
    scale = settings.stimulus_size / max(image.size)
    shape = (round(image.width * scale), round(image.height * scale))
    image = image.resize(shape, Image.Resampling.BICUBIC)
    files: dict[str, str | None] = {"image": f"stimuli/{stem}.png", "hidden": None}
    image.save(folder / f"{stem}.png")
    if settings.hiding == "blur":
        image.filter(ImageFilter.GaussianBlur(settings.hiding_blur)).save(
            folder / f"{stem}_hidden.png")
        files["hidden"] = f"stimuli/{stem}_hidden.png"
    return files, shape


def _write_js(path: Path, name: str, value: Any, comment: str) -> None:
    text = json.dumps(value, indent=1, ensure_ascii=True)
    path.write_text(f"// {comment}\n// Written by ferattention.experiment.export_experiment.\n"
                    f"window.{name} = {text};\n", encoding="utf-8")


def combine_sessions(files: Iterable[str | os.PathLike], trials_out: str | os.PathLike,
                     clicks_out: str | os.PathLike) -> tuple[int, int]:
    """Join per-participant downloads (``*_trials.csv``, ``*_clicks.csv``) into two files.

    ``files``: CSV files and/or folders (searched for ``*_trials.csv`` and ``*_clicks.csv``).
    A participant id found in two trials files is an error naming both (the same session saved
    twice, or two people given one id). Returns ``(n_trials, n_clicks)`` rows written.
    """
    paths: list[Path] = []
    for item in map(Path, files):
        paths += sorted(item.glob("*.csv")) if item.is_dir() else [item]
    groups: dict[str, list[Path]] = {"trials": [], "clicks": []}
    for path in paths:
        kind = next((k for k in groups if path.name.endswith(f"_{k}.csv")), None)
        if kind is None:
            raise ValueError(f"{path}: not a session file (expected a name ending in "
                             f"_trials.csv or _clicks.csv)")
        groups[kind].append(path)
    if not groups["trials"]:
        raise ValueError("no *_trials.csv file among the given paths")

    columns = {"trials": [*TRIAL_COLUMNS, *OPTIONAL_TRIAL_COLUMNS], "clicks": list(CLICK_COLUMNS)}
    owner: dict[str, Path] = {}
    out: dict[str, pd.DataFrame] = {}
    for kind, kind_paths in groups.items():
        frames = []
        for path in kind_paths:
            frame = pd.read_csv(path, dtype=str, keep_default_na=False)
            if list(frame.columns) != columns[kind]:
                raise ValueError(f"{path}: columns {list(frame.columns)}, "
                                 f"expected {columns[kind]}")
            if kind == "trials":
                for pid in frame["participant_id"].unique():
                    if pid in owner:
                        raise ValueError(f"participant_id {pid!r} is in both {owner[pid]} "
                                         f"and {path}")
                    owner[pid] = path
            frames.append(frame)
        out[kind] = (pd.concat(frames, ignore_index=True) if frames
                     else pd.DataFrame(columns=columns[kind]))
    io.write_csv(out["clicks"], clicks_out)
    io.write_csv(out["trials"], trials_out)
    return len(out["trials"]), len(out["clicks"])


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m ferattention.experiment combine DOWNLOADS... --out DIR``."""
    parser = argparse.ArgumentParser(prog="python -m ferattention.experiment",
                                     description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    combine = sub.add_parser("combine", help="join per-participant CSV downloads into "
                                             "trials.csv and clicks.csv")
    combine.add_argument("paths", nargs="+", help="session CSV files or folders holding them")
    combine.add_argument("--out", required=True, help="folder for trials.csv and clicks.csv")
    args = parser.parse_args(argv)
    out = Path(args.out)
    n_trials, n_clicks = combine_sessions(args.paths, out / "trials.csv", out / "clicks.csv")
    print(f"wrote {out / 'trials.csv'} ({n_trials} trials) and "
          f"{out / 'clicks.csv'} ({n_clicks} clicks)")


if __name__ == "__main__":
    main()
