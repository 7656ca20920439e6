"""The browser experiment that collects real click data (docs/design.md §4.6 and §7).

:func:`export_experiment` writes a self-contained static web experiment: ``index.html``,
``experiment.js`` and ``style.css`` (copied from ``experiment_assets/``), ``config.js`` (the
settings), ``trials.js`` (the stimuli and their 2AFC trials) and ``stimuli/`` (each image scaled
to the stimulus size, plus a blurred copy when the face is hidden by blur). It runs from any static
file server, or straight from disk (``file://``): the data files are plain scripts, nothing is
fetched from the network.

A participant sees every test image once (or ``images_per_participant`` of them), in an order
drawn from their participant id and balanced over expressions, in one of the image's trials,
with the correct option on the left in half the trials; ``catch_trials`` attention checks are
spread among them. The page keeps the session in the browser's local storage after every answer
(a reload resumes it), saves it as one file, ``<id>_session.json``, with the tables ``trials``
and ``clicks`` of :func:`ferattention.humans.load_human_data`'s format (``option_a``/``option_b``
are the left/right buttons as shown, ``x, y`` pixels of the stimulus as shown, origin top-left,
``t_ms`` the time since trial onset, ``rt_ms`` the time of the answer, ``n_clicks`` the clicks of
the trial, ``flag`` ``too_fast``/``catch``), and optionally POSTs it after every trial
(:mod:`ferattention.session_receiver` receives it). :func:`combine_sessions` checks the sessions
of many participants (also the older ``<id>_trials.csv`` + ``<id>_clicks.csv`` downloads) and
joins them into the two files of ``humans.trials`` and ``humans.clicks``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import os
import shutil
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image, ImageFilter

from . import io, session_receiver
from .catalogue import schema_defaults
from .humans.ingest import CLICK_COLUMNS, OPTIONAL_TRIAL_COLUMNS, TRIAL_COLUMNS

#: The static files of the experiment (package data).
ASSETS_DIR = Path(__file__).with_name("experiment_assets")
ASSET_FILES: tuple[str, ...] = ("index.html", "experiment.js", "style.css")
HIDINGS: tuple[str, ...] = ("blur", "mask")
#: Fill of the hidden face with ``hiding: mask`` (mid-gray).
MASK_COLOR = "#808080"
#: Defaults of :class:`ExperimentSettings`: the config schema's ``experiment`` block (their one source).
_EXPERIMENT = schema_defaults("experiment")


@dataclass(frozen=True)
class ExperimentSettings:
    """What the exported experiment does; see the ``experiment`` keys of the config schema.

    ``reveal_radius`` (stimulus pixels) is ``humans.reveal_radius``, so the disks people uncover
    are the disks the analysis paints. ``hiding_blur`` is the Gaussian sigma (stimulus pixels)
    of the blurred face (``hiding: blur``); ``hiding: mask`` shows a uniform gray field instead.
    """

    reveal_radius: float
    stimulus_size: int = _EXPERIMENT["stimulus_size"]
    hiding: str = _EXPERIMENT["hiding"]
    hiding_blur: float = float(_EXPERIMENT["hiding_blur"])
    practice_trials: int = _EXPERIMENT["practice_trials"]
    images_per_participant: int | None = _EXPERIMENT["images_per_participant"]
    response_keys: tuple[str, str] = tuple(_EXPERIMENT["response_keys"])
    iti_ms: int = _EXPERIMENT["iti_ms"]
    post_url: str | None = _EXPERIMENT["post_url"]
    min_rt_ms: int = _EXPERIMENT["min_rt_ms"]
    catch_trials: int = _EXPERIMENT["catch_trials"]
    seed: int = _EXPERIMENT["seed"]

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
        if self.min_rt_ms < 0:
            problems.append(f"min_rt_ms must be >= 0, got {self.min_rt_ms}")
        if self.catch_trials < 0:
            problems.append(f"catch_trials must be >= 0, got {self.catch_trials}")
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
                 ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
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
        ``practice_trials``, ``catch_trials`` and ``seed`` choose the practice and catch images:
        distinct images outside the test split (never shown in the main part), each with its
        label and one other expression of the run as options.

    Returns
    -------
    main
        One record per image, sorted by image_id: ``image_id, label, source`` (image path as
        given in the manifest) and ``trials`` (list of ``trial_id, option_a, option_b``). The
        page needs the label to put the correct option on the left in half the trials and to
        balance the expressions over the session.
    practice, catch
        One record per practice (catch) image: ``image_id, source, label, option_a, option_b``.
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
        labels = group["label"].unique()
        if len(labels) != 1:
            raise ValueError(f"trial list gives image {image_id!r} several labels {list(labels)}")
        main.append({"image_id": image_id, "label": labels[0], "source": path_of[image_id],
                     "trials": group[["trial_id", "option_a", "option_b"]].to_dict("records")})

    expressions = sorted(set(trials["option_a"]) | set(trials["option_b"]))
    shown = set(trials["image_id"])
    candidates = manifest[(manifest["split"] != "test") & ~manifest["image_id"].isin(shown)
                          & manifest["label"].isin(expressions)].sort_values("image_id")
    n_practice, n_catch = settings.practice_trials, settings.catch_trials
    if len(candidates) < n_practice + n_catch:
        raise ValueError(
            f"experiment.practice_trials ({n_practice}) and experiment.catch_trials ({n_catch}) "
            f"need {n_practice + n_catch} image(s) outside the test split but only "
            f"{len(candidates)} can serve (practice and catch trials never use a test image); "
            f"lower them (0 is allowed)")
    rng = np.random.default_rng(settings.seed)
    chosen = rng.choice(len(candidates), n_practice + n_catch, replace=False)
    practice, catch = [], []
    for k, row in enumerate(candidates.iloc[chosen].itertuples()):
        foil = str(rng.choice([e for e in expressions if e != row.label]))
        a, b = (row.label, foil) if rng.random() < 0.5 else (foil, row.label)
        (practice if k < n_practice else catch).append(
            {"image_id": row.image_id, "source": row.path, "label": row.label,
             "option_a": a, "option_b": b})
    practice.sort(key=lambda r: r["image_id"])
    catch.sort(key=lambda r: r["image_id"])
    return main, practice, catch


def export_experiment(manifest_path: str | os.PathLike, trials_path: str | os.PathLike,
                      out_dir: str | os.PathLike, settings: ExperimentSettings
                      ) -> dict[str, Any]:
    """Write the static experiment for the images of ``trials_path`` into ``out_dir``.

    ``manifest_path``: the prepared manifest (image ``path`` relative to its folder);
    ``trials_path``: the model trial list. The folder is built beside ``out_dir`` and renamed
    into place at the end (an existing ``out_dir`` is replaced), so a failure leaves no partial
    experiment. Returns a summary: ``n_images`` (test images), ``per_participant`` (trials
    each participant does, catch trials aside), ``n_practice``, ``n_catch``,
    ``stimulus_width``, ``stimulus_height``.
    """
    manifest_path, out_dir = Path(manifest_path), Path(out_dir)
    manifest = pd.read_csv(manifest_path, dtype=str, keep_default_na=False)
    trials = pd.read_csv(trials_path, dtype=str, keep_default_na=False)
    main, practice, catch = plan_stimuli(manifest, trials, settings)

    # The web folder appears whole or not at all (io.atomic_dir gives it normal permissions).
    with io.atomic_dir(out_dir) as tmp:
        for name in ASSET_FILES:
            shutil.copyfile(ASSETS_DIR / name, tmp / name)
        (tmp / "stimuli").mkdir()
        size = None
        for number, record in enumerate([*main, *practice, *catch], start=1):
            files, shape = _write_stimulus(manifest_path.parent / record.pop("source"),
                                           tmp / "stimuli", f"{number:04d}", settings)
            if size is not None and shape != size:
                raise ValueError(f"image {record['image_id']!r} gives a {shape[0]}x{shape[1]} "
                                 f"stimulus, the others {size[0]}x{size[1]}: prepared images "
                                 f"must all have the same size")
            size = shape
            record.update(files)
        width, height = size
        stimuli = {"main": main, "practice": practice, "catch": catch}
        config = {
            **{k: v for k, v in asdict(settings).items() if k != "seed"},
            "response_keys": [k.lower() for k in settings.response_keys],
            "stimulus_width": width, "stimulus_height": height, "mask_color": MASK_COLOR,
            "trial_columns": [*TRIAL_COLUMNS, *OPTIONAL_TRIAL_COLUMNS],
            "click_columns": list(CLICK_COLUMNS),
        }
        # Names this export in the browser's storage, so that a session saved there is resumed
        # only by the experiment it belongs to.
        config["experiment_id"] = hashlib.sha256(
            json.dumps([config, stimuli], sort_keys=True).encode()).hexdigest()[:16]
        _write_js(tmp / "config.js", "FER_CONFIG", config,
                  "Settings of the experiment. post_url may be edited here after export.")
        _write_js(tmp / "trials.js", "FER_TRIALS", stimuli,
                  "Stimuli and their 2AFC trials (one trial per image is drawn per participant).")
    per_participant = min(len(main), settings.images_per_participant or len(main))
    return {"n_images": len(main), "per_participant": per_participant,
            "n_practice": len(practice), "n_catch": len(catch), "stimulus_width": width,
            "stimulus_height": height}


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


#: ``format`` of a session file (``<id>_session.json``).
SESSION_FORMAT = "ferattention-session"
SESSION_COLUMNS = {"trials": [*TRIAL_COLUMNS, *OPTIONAL_TRIAL_COLUMNS],
                   "clicks": list(CLICK_COLUMNS)}
#: A browser's name for a repeated download: ``name (1).csv``, ``name(2).json``.
_RENAMED = re.compile(r"^(?P<stem>.+?) ?\((?P<n>\d+)\)(?P<ext>\.[^.]+)$")
_LEGACY = re.compile(r"^(?P<stem>.+)_(?P<kind>trials|clicks)\.csv$")


class SessionError(ValueError):
    """A session file is unusable or inconsistent; the message names the file."""


@dataclass
class Session:
    """One participant's session: trials and clicks as string cells, and where they came from.

    ``participant_ids`` holds one id (a session file) or the ids of a legacy
    ``<stem>_trials.csv`` + ``<stem>_clicks.csv`` pair. ``n_planned`` is the number of trials
    the page planned (session files only), ``complete`` whether it finished.
    """

    sources: list[Path]
    trials: pd.DataFrame
    clicks: pd.DataFrame
    participant_ids: list[str]
    complete: bool = True
    n_planned: int | None = None

    @property
    def name(self) -> str:
        return " + ".join(str(p) for p in self.sources)

    def content(self) -> tuple[str, str]:
        """The session's data as text: equal for identical sessions whatever file held them."""
        return (self.trials.to_csv(index=False), self.clicks.to_csv(index=False))


@dataclass(frozen=True)
class Combined:
    """What :func:`combine_sessions` wrote and what it noticed (one line per note)."""

    n_trials: int
    n_clicks: int
    n_sessions: int
    notes: list[str]


def _cell(value: Any) -> str:
    """A JSON value as the CSV cell the page would have written."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _records(path: Path, data: Mapping[str, Any], kind: str) -> pd.DataFrame:
    rows = data.get(kind)
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise SessionError(f"{path}: {kind!r} must be a list of rows (objects)")
    required = TRIAL_COLUMNS if kind == "trials" else CLICK_COLUMNS
    for number, row in enumerate(rows, start=1):
        missing = [c for c in required if c not in row]
        if missing:
            raise SessionError(f"{path}: {kind} row {number} lacks {missing}")
    columns = [c for c in SESSION_COLUMNS[kind] if c in required or any(c in r for r in rows)]
    return pd.DataFrame([[_cell(r.get(c)) for c in columns] for r in rows], columns=columns,
                        dtype=object)


def read_session_file(path: str | os.PathLike) -> Session:
    """Read one ``<id>_session.json`` (the page's download, or what the receiver stored)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise SessionError(f"{path}: not a session file (not JSON text: {err})") from None
    if not isinstance(data, dict) or data.get("format") != SESSION_FORMAT:
        raise SessionError(f"{path}: not a session file (no \"format\": \"{SESSION_FORMAT}\")")
    pid = data.get("participant_id")
    if not isinstance(pid, str) or not pid:
        raise SessionError(f"{path}: no participant_id")
    trials, clicks = _records(path, data, "trials"), _records(path, data, "clicks")
    for kind, frame in (("trials", trials), ("clicks", clicks)):
        other = sorted(set(frame["participant_id"]) - {pid})
        if other:
            raise SessionError(f"{path}: the session of {pid!r} has {kind} of participant(s) "
                               f"{other}")
    planned = data.get("n_planned")
    return Session([path], trials, clicks, [pid], complete=bool(data.get("complete")),
                   n_planned=planned if isinstance(planned, int) else None)


def _read_legacy_csv(path: Path, kind: str) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise SessionError(f"{path}: not a session file (not a CSV table: "
                           f"{str(err).splitlines()[0]})") from None
    required = TRIAL_COLUMNS if kind == "trials" else CLICK_COLUMNS
    missing = [c for c in required if c not in frame.columns]
    extra = [c for c in frame.columns if c not in SESSION_COLUMNS[kind]]
    if missing or extra:
        raise SessionError(f"{path}: not a {kind} file: columns {list(frame.columns)}, "
                           f"expected {SESSION_COLUMNS[kind]} (missing {missing}, "
                           f"unexpected {extra})")
    return frame.astype(str)


def _original_name(path: Path) -> str:
    """The name before the browser renamed a repeated download: ``a (1).csv`` -> ``a.csv``."""
    match = _RENAMED.match(path.name)
    return match["stem"] + match["ext"] if match else path.name


def session_files(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """The files to read: the given files, and each folder's ``*.json`` and ``*.csv`` files
    (not hidden ones, such as the receiver's temporaries)."""
    found: list[Path] = []
    for item in map(Path, paths):
        if item.is_dir():
            # A browser's renamed copy (``name (1).json``) after its original.
            found += sorted((p for p in item.iterdir() if p.is_file()
                             and p.suffix.lower() in (".json", ".csv")
                             and not p.name.startswith(".")),
                            key=lambda p: (_original_name(p), p.name != _original_name(p),
                                           p.name))
        elif item.is_file():
            found.append(item)
        else:
            raise SessionError(f"{item}: no such file or folder")
    return found


def load_sessions(paths: Iterable[str | os.PathLike]) -> tuple[list[Session], list[str]]:
    """Read every session among ``paths`` (files or folders); return them and notes.

    A repeated download (``name (1).json`` with the same bytes as ``name.json``) is read once,
    with a note; identical sessions under other names are left to :func:`combine_sessions`.
    Session files (``*.json``) are read as they are; the older
    form, ``<stem>_trials.csv`` with ``<stem>_clicks.csv``, is paired by ``stem``. Anything else
    is a :class:`SessionError` naming the file, as are a trials file without its clicks file and
    the reverse.
    """
    notes: list[str] = []
    seen: dict[tuple[str, str], Path] = {}
    sessions: list[Session] = []
    legacy: dict[str, dict[str, list[Path]]] = {}
    for path in session_files(paths):
        try:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError as err:
            raise SessionError(f"{path}: cannot read ({err.strerror})") from None
        name = _original_name(path)
        if (name, digest) in seen:
            notes.append(f"{path} is a copy of {seen[name, digest]} (same name and bytes): "
                         f"read once")
            continue
        seen[name, digest] = path
        legacy_name = _LEGACY.match(name)
        if path.suffix.lower() == ".json":
            sessions.append(read_session_file(path))
        elif legacy_name:
            kinds = legacy.setdefault(legacy_name["stem"], {"trials": [], "clicks": []})
            kinds[legacy_name["kind"]].append(path)
        else:
            raise SessionError(f"{path}: not a session file (expected <id>_session.json, or the "
                               f"older <id>_trials.csv with <id>_clicks.csv)")
    for stem, kinds in legacy.items():
        for kind, other in (("trials", "clicks"), ("clicks", "trials")):
            if len(kinds[kind]) > 1:
                raise SessionError(f"{' and '.join(map(str, kinds[kind]))}: different {kind} "
                                   f"files of one session {stem!r}; keep the right one")
            if kinds[kind] and not kinds[other]:
                raise SessionError(f"{kinds[kind][0]}: its {other} file ({stem}_{other}.csv) is "
                                   f"missing: the session cannot be checked or used without it")
        trials = _read_legacy_csv(kinds["trials"][0], "trials")
        clicks = _read_legacy_csv(kinds["clicks"][0], "clicks")
        sessions.append(Session([kinds["trials"][0], kinds["clicks"][0]], trials, clicks,
                                list(dict.fromkeys(trials["participant_id"]))))
    return sessions, notes


def check_session(session: Session) -> None:
    """Refuse a session whose clicks do not match its trials (error naming file and participant).

    Every click must belong to one of the session's trials, and where the trials carry
    ``n_clicks`` (the page writes it) each trial must have exactly that many clicks.
    """
    trials, clicks = session.trials, session.clicks
    who = f"participant {', '.join(map(repr, session.participant_ids))}"
    keys = list(zip(trials["participant_id"], trials["trial_id"]))
    repeated = sorted(k for k, n in Counter(keys).items() if n > 1)
    if repeated:
        raise SessionError(f"{session.name}: {who}: trial(s) {repeated[:5]} more than once")
    click_keys = pd.Series(list(zip(clicks["participant_id"], clicks["trial_id"])), dtype=object)
    stray = sorted(set(click_keys) - set(keys))
    if stray:
        raise SessionError(f"{session.name}: {who}: clicks of trial(s) {stray[:5]} that are not "
                           f"among the session's trials (clicks of another session?)")
    if "n_clicks" not in trials:
        return
    counts = click_keys.value_counts()
    wrong = []
    for key, given in zip(keys, trials["n_clicks"]):
        have = int(counts.get(key, 0))
        if given.strip() == "" or not given.strip().isdigit() or int(given) != have:
            wrong.append(f"{key[1]} (n_clicks {given!r}, {have} click(s) found)")
    if wrong:
        raise SessionError(f"{session.name}: {who}: the clicks do not match the trials: "
                           f"{'; '.join(wrong[:5])}"
                           + (f"; ... {len(wrong) - 5} more" if len(wrong) > 5 else ""))


def _deduplicate(sessions: list[Session], notes: list[str]) -> list[Session]:
    """Keep one of identical sessions; a session that is the start of another (a partial copy,
    e.g. sent before the end) gives way to it; two different sessions of one participant id
    are an error naming both."""
    kept: list[Session] = []
    for session in sessions:
        clash = next((k for k in kept if set(k.participant_ids) & set(session.participant_ids)),
                     None)
        if clash is None:
            kept.append(session)
            continue
        pids = sorted(set(clash.participant_ids) & set(session.participant_ids))
        if clash.content() == session.content():
            notes.append(f"{session.name} holds the same session as {clash.name}: kept once")
        elif _is_start_of(session, clash):
            notes.append(f"{session.name} holds the first {len(session.trials)} trials of the "
                         f"session in {clash.name}: kept the longer one")
        elif _is_start_of(clash, session):
            notes.append(f"{clash.name} holds the first {len(clash.trials)} trials of the "
                         f"session in {session.name}: kept the longer one")
            kept[kept.index(clash)] = session
        else:
            raise SessionError(f"participant_id {pids[0]!r} is in both {clash.name} and "
                               f"{session.name} with different data (the same id given to "
                               f"two people, or two sessions of one person): keep the right one")
    return kept


def _is_start_of(short: Session, long: Session) -> bool:
    if len(short.participant_ids) != 1 or short.participant_ids != long.participant_ids:
        return False
    n = len(short.trials)
    if n >= len(long.trials) or list(short.trials.columns) != list(long.trials.columns):
        return False
    head = long.trials.iloc[:n].reset_index(drop=True)
    if not short.trials.reset_index(drop=True).equals(head):
        return False
    shown = long.clicks["trial_id"].isin(set(head["trial_id"]))
    return (list(short.clicks.columns) == list(long.clicks.columns)
            and short.clicks.reset_index(drop=True).equals(
                long.clicks[shown].reset_index(drop=True)))


def _describe(session: Session) -> str:
    trials = session.trials
    flags = trials["flag"].str.split() if "flag" in trials else pd.Series([[]] * len(trials))
    n_catch = int(flags.map(lambda w: "catch" in w).sum())
    n_fast = int(flags.map(lambda w: "too_fast" in w).sum())
    text = (f"{', '.join(session.participant_ids)}: {len(trials)} trials "
            f"({n_catch} catch, {n_fast} too fast), {len(session.clicks)} clicks")
    if not session.complete:
        text += (f"; INCOMPLETE: {len(trials)} of {session.n_planned} planned trials"
                 if session.n_planned is not None else "; INCOMPLETE")
    return f"{text} [{session.name}]"


def combine_sessions(files: Iterable[str | os.PathLike], trials_out: str | os.PathLike,
                     clicks_out: str | os.PathLike) -> Combined:
    """Join the participants' sessions into the two files of ``humans.trials``/``humans.clicks``.

    ``files``: session files (``<id>_session.json``; the older ``<id>_trials.csv`` with
    ``<id>_clicks.csv``) and/or folders holding them (their ``*.json`` and ``*.csv`` files).
    Every session is checked (:func:`check_session`); repeated downloads and identical sessions
    are kept once, with a note (:func:`load_sessions`); a participant id in two different
    sessions, a file that is not a session file, or clicks that do not match their trials raise
    :class:`SessionError` naming the file, and nothing is written. The trials file gets every
    column of :data:`SESSION_COLUMNS`; sessions of the older form get ``n_clicks`` counted
    from their clicks and an empty ``flag``.
    """
    sessions, notes = load_sessions(files)
    if not sessions:
        raise SessionError("no session file among the given paths "
                           "(expected <id>_session.json, or <id>_trials.csv with <id>_clicks.csv)")
    for session in sessions:
        check_session(session)
    sessions = _deduplicate(sessions, notes)
    notes += [_describe(s) for s in sessions]

    trial_frames, click_frames = [], []
    for session in sessions:
        trials = session.trials.copy()
        if "n_clicks" not in trials:
            counts = session.clicks.groupby(["participant_id", "trial_id"]).size()
            trials["n_clicks"] = [str(counts.get(k, 0))
                                  for k in zip(trials["participant_id"], trials["trial_id"])]
        trial_frames.append(trials.reindex(columns=SESSION_COLUMNS["trials"], fill_value=""))
        click_frames.append(session.clicks[SESSION_COLUMNS["clicks"]])
    trials = pd.concat(trial_frames, ignore_index=True)
    clicks = pd.concat(click_frames, ignore_index=True)
    io.write_csv(clicks, clicks_out)
    io.write_csv(trials, trials_out)
    return Combined(len(trials), len(clicks), len(sessions), notes)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m ferattention.experiment combine PATHS... --out DIR`` or
    ``python -m ferattention.experiment receive --dir DIR [--host H] [--port N]``."""
    parser = argparse.ArgumentParser(prog="python -m ferattention.experiment",
                                     description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    combine = sub.add_parser("combine", help="check the participants' session files and join "
                                             "them into trials.csv and clicks.csv")
    combine.add_argument("paths", nargs="+", help="session files (<id>_session.json, or "
                         "<id>_trials.csv with <id>_clicks.csv) or folders holding them")
    combine.add_argument("--out", required=True, help="folder for trials.csv and clicks.csv")
    receive = sub.add_parser("receive", help="receive the sessions POSTed by the experiment "
                                             "(experiment.post_url) into a folder")
    session_receiver.add_arguments(receive)
    args = parser.parse_args(argv)
    if args.command == "receive":
        return session_receiver.run(args)
    out = Path(args.out)
    try:
        result = combine_sessions(args.paths, out / "trials.csv", out / "clicks.csv")
    except (ValueError, OSError) as err:   # SessionError, unreadable files: one line, no trace
        print(f"combine: error: {' '.join(str(err).split())}", file=sys.stderr)
        return 1
    for note in result.notes:
        print(note)
    print(f"wrote {out / 'trials.csv'} ({result.n_trials} trials of {result.n_sessions} "
          f"session(s)) and {out / 'clicks.csv'} ({result.n_clicks} clicks)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
