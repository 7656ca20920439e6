"""Read and validate the two human-data CSV files (docs/design.md §4.4).

``trials``: ``participant_id,trial_id,image_id,option_a,option_b,response,rt_ms``
            (optional ``stimulus_width,stimulus_height,n_clicks,flag``)
``clicks``: ``participant_id,trial_id,click_index,x,y,t_ms``

Every problem is reported with the file, the data row (1-based, header excluded), the line of the
file where that row starts, the column and the offending value. With ``on_invalid="error"`` all
problems of both files are collected and raised together in one :class:`HumanDataError` (so a
user fixes them in one pass and no partial result is written); with ``on_invalid="drop"`` the
offending rows are dropped and counted by reason. Problems with the file as a whole (missing,
empty, not CSV, wrong columns) are always errors.

The browser experiment writes two more trial columns: ``n_clicks`` (the clicks the page recorded;
it must equal the trial's rows in the clicks file) and ``flag``: empty or space-separated words
of :data:`FLAGS`. ``too_fast`` trials (answered faster than ``experiment.min_rt_ms``) are kept
and counted in the qc table; ``catch`` trials (attention checks on an uncovered face, never a
test image) are set aside from the analysis and counted as ``catch_passed``/``catch_failed``.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..catalogue import schema_defaults
from ..io import read_table
from ..labels import EXPRESSIONS

#: Defaults of the ``humans`` settings: the config schema (their one source).
_HUMANS = schema_defaults("humans")

TRIAL_COLUMNS: tuple[str, ...] = (
    "participant_id", "trial_id", "image_id", "option_a", "option_b", "response", "rt_ms",
)
STIMULUS_SIZE_COLUMNS: tuple[str, str] = ("stimulus_width", "stimulus_height")
OPTIONAL_TRIAL_COLUMNS: tuple[str, ...] = (*STIMULUS_SIZE_COLUMNS, "n_clicks", "flag")
#: Words of the ``flag`` column.
FLAGS: tuple[str, ...] = ("too_fast", "catch")
CLICK_COLUMNS: tuple[str, ...] = ("participant_id", "trial_id", "click_index", "x", "y", "t_ms")
KEY: list[str] = ["participant_id", "trial_id"]
QC_COLUMNS: list[str] = ["file", "reason", "n_rows"]

#: Problems listed in one error message; the rest are counted.
MAX_LISTED = 25


class HumanDataError(ValueError):
    """The human data files are unusable as given; the message says where and why."""


@dataclass(frozen=True)
class _Issue:
    row: int        # 0-based position in the table
    column: str
    value: str
    reason: str     # short code, used for the qc counts
    problem: str    # human-readable description


@dataclass
class _Table:
    path: Path
    frame: pd.DataFrame   # all cells as stripped strings, columns as in the header
    lines: np.ndarray     # line of the file where each row starts
    issues: list[_Issue]

    def flag(self, mask: np.ndarray | pd.Series, column: str, reason: str,
             problem: str | Callable[[int], str]) -> None:
        """Record an issue for every row where ``mask`` is true."""
        for i in np.flatnonzero(np.asarray(mask, dtype=bool)):
            text = problem(int(i)) if callable(problem) else problem
            value = str(self.frame[column].iat[i]) if column in self.frame else ""
            self.issues.append(_Issue(int(i), column, value, reason, text))

    def describe(self, issue: _Issue) -> str:
        return (f"{self.path}: row {issue.row + 1} (line {self.lines[issue.row]}), "
                f"column {issue.column!r}: {issue.problem} (value {issue.value!r})")

    def bad_rows(self) -> np.ndarray:
        bad = np.zeros(len(self.frame), dtype=bool)
        bad[[i.row for i in self.issues]] = True
        return bad

    def qc(self) -> list[dict]:
        """Rows dropped per reason; a row with several problems counts under its first."""
        first: dict[int, str] = {}
        for issue in self.issues:
            first.setdefault(issue.row, issue.reason)
        reasons = list(dict.fromkeys(i.reason for i in self.issues))
        counts = pd.Series(list(first.values()), dtype=object).value_counts()
        return [{"file": self.path.name, "reason": r, "n_rows": int(counts.get(r, 0))}
                for r in reasons if counts.get(r, 0) > 0]


def load_human_data(
    trials_path: str | os.PathLike,
    clicks_path: str | os.PathLike,
    images: pd.DataFrame,
    on_invalid: str = _HUMANS["on_invalid"],
    *,
    default_stimulus_size: tuple[float, float],
    expressions: Sequence[str] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Read, validate and join the human trials and clicks files.

    Parameters
    ----------
    trials_path, clicks_path
        The two CSV files of docs/design.md §4.4 (UTF-8, optional BOM; cells are stripped of
        surrounding blanks; empty lines are skipped).
    images
        The image manifest; only its ``image_id`` and ``label`` columns are used.
    on_invalid
        ``"error"``: raise :class:`HumanDataError` listing every problem; ``"drop"``: drop the
        offending rows (and the clicks of dropped trials) and count them in ``qc``.
    default_stimulus_size
        ``(width, height)`` in stimulus pixels for trials without ``stimulus_width`` /
        ``stimulus_height`` (column absent or cell empty); normally the preprocessed image size.
    expressions
        Allowed option names (default: all canonical :data:`~ferattention.labels.EXPRESSIONS`).

    Returns
    -------
    trials
        The valid trials in file order: the input columns (ids as strings, ``rt_ms`` float) plus
        ``stimulus_width``, ``stimulus_height`` (float, stimulus pixels), ``label`` (true label of
        the image), ``correct`` (bool, ``response == label``), ``n_clicks`` (int) and ``flag``
        (str, ``""`` or ``"too_fast"``). Catch trials are not among them.
    clicks
        The valid clicks sorted by ``participant_id, trial_id, click_index``: ids as strings,
        ``click_index`` int, ``x, y`` (stimulus pixels, origin top-left), ``t_ms`` float.
    qc
        Rows dropped per file and reason, then trials flagged (``too_fast``: kept) or set aside
        (``catch_passed``, ``catch_failed``): columns ``file, reason, n_rows`` (empty when none).
    """
    if on_invalid not in ("error", "drop"):
        raise ValueError(f"on_invalid must be 'error' or 'drop', got {on_invalid!r}")
    default_w, default_h = (float(v) for v in default_stimulus_size)
    if not (default_w > 0 and default_h > 0):
        raise ValueError(f"default_stimulus_size must be positive, got {default_stimulus_size}")
    allowed = tuple(EXPRESSIONS if expressions is None else expressions)
    labels = _image_labels(images)

    trials = _read_csv(trials_path, TRIAL_COLUMNS, OPTIONAL_TRIAL_COLUMNS)
    clicks = _read_csv(clicks_path, CLICK_COLUMNS, ())
    sizes = _check_trials(trials, labels, allowed, (default_w, default_h))
    _check_clicks(clicks, trials, sizes)
    _check_click_counts(trials, clicks)

    if on_invalid == "error" and (trials.issues or clicks.issues):
        _raise_issues([trials, clicks])

    trial_ok = ~trials.bad_rows()
    if not trial_ok.any():
        raise HumanDataError(
            f"{trials.path}: no valid trial left after dropping invalid rows "
            f"({_qc_frame([trials]).to_dict('records')})")
    # Flagged trials are counted, not dropped: too_fast ones stay in the analysis, catch trials
    # (attention checks) are set aside.
    flags = (trials.frame["flag"] if "flag" in trials.frame
             else pd.Series("", index=trials.frame.index)).map(lambda v: " ".join(v.split()))
    words = flags.map(str.split)
    is_catch = words.map(lambda w: "catch" in w).to_numpy() & trial_ok
    label_of = trials.frame["image_id"].map(labels)
    passed = (trials.frame["response"] == label_of).to_numpy()
    flagged = [("too_fast", words.map(lambda w: "too_fast" in w).to_numpy() & trial_ok),
               ("catch_passed", is_catch & passed), ("catch_failed", is_catch & ~passed)]
    flag_qc = [{"file": trials.path.name, "reason": reason, "n_rows": int(mask.sum())}
               for reason, mask in flagged if mask.any()]
    trial_ok &= ~is_catch
    if not trial_ok.any():
        raise HumanDataError(f"{trials.path}: no trial left besides the catch trials")
    valid_keys = set(_keys(trials.frame[trial_ok]))
    click_keys = _keys(clicks.frame)
    orphan = np.array([k not in valid_keys for k in click_keys]) & ~clicks.bad_rows()
    clicks.flag(orphan, "trial_id",
                "trial_dropped", "its trial was dropped from " + trials.path.name)
    click_ok = ~clicks.bad_rows()

    out_clicks = clicks.frame[click_ok].copy()
    out_clicks["click_index"] = pd.to_numeric(out_clicks["click_index"]).astype(np.int64)
    for col in ("x", "y", "t_ms"):
        out_clicks[col] = pd.to_numeric(out_clicks[col]).astype(float)
    out_clicks = out_clicks[list(CLICK_COLUMNS)].sort_values(
        ["participant_id", "trial_id", "click_index"], kind="stable").reset_index(drop=True)

    out_trials = trials.frame[trial_ok][list(TRIAL_COLUMNS)].copy()
    flag_out = flags[trial_ok]
    out_trials["rt_ms"] = pd.to_numeric(out_trials["rt_ms"]).astype(float)
    out_trials["stimulus_width"] = sizes[0][trial_ok]
    out_trials["stimulus_height"] = sizes[1][trial_ok]
    out_trials["label"] = out_trials["image_id"].map(labels)
    out_trials["correct"] = (out_trials["response"] == out_trials["label"]).astype(bool)
    counts = out_clicks.groupby(KEY).size()
    out_trials["n_clicks"] = np.array(
        [counts.get(k, 0) for k in _keys(out_trials)], dtype=np.int64)
    out_trials["flag"] = flag_out
    out_trials = out_trials.reset_index(drop=True)
    qc = _qc_frame([trials, clicks])
    if flag_qc:
        qc = pd.concat([qc, pd.DataFrame(flag_qc, columns=QC_COLUMNS)], ignore_index=True)
    return out_trials, out_clicks, qc


def _image_labels(images: pd.DataFrame) -> dict[str, str]:
    missing = {"image_id", "label"} - set(images.columns)
    if missing:
        raise ValueError(f"image manifest lacks column(s) {sorted(missing)}")
    pairs = images[["image_id", "label"]].astype(str).drop_duplicates()
    clash = pairs["image_id"][pairs["image_id"].duplicated()]
    if len(clash):
        raise ValueError(f"image manifest gives several labels for image_id(s) "
                         f"{sorted(set(clash))[:10]}")
    return dict(zip(pairs["image_id"], pairs["label"]))


def _read_csv(path: str | os.PathLike, required: Sequence[str],
              optional: Sequence[str]) -> _Table:
    """Read a CSV into stripped strings; file-level problems raise, row-level ones are flagged."""
    path = Path(path)
    header: list[str] | None = None
    rows: list[list[str]] = []
    lines: list[int] = []
    short: list[tuple[int, int]] = []    # (row, number of fields) of rows with the wrong count
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            previous_line = 0
            for record in reader:
                start, previous_line = previous_line + 1, reader.line_num
                if not record or (len(record) == 1 and not record[0].strip()):
                    continue
                cells = [c.strip() for c in record]
                if header is None:
                    header = cells
                    continue
                if len(cells) != len(header):
                    short.append((len(rows), len(cells)))
                    cells = (cells + [""] * len(header))[: len(header)]
                rows.append(cells)
                lines.append(start)
    except FileNotFoundError:
        raise HumanDataError(f"{path}: file not found") from None
    except UnicodeDecodeError as err:
        raise HumanDataError(f"{path}: not UTF-8 text ({err})") from None
    except csv.Error as err:
        raise HumanDataError(f"{path}: line {previous_line + 1}: malformed CSV ({err})") from None

    if header is None:
        raise HumanDataError(f"{path}: the file is empty (expected a header line with columns "
                             f"{','.join(required)})")
    dupes = sorted({c for c in header if header.count(c) > 1})
    missing = [c for c in required if c not in header]
    extra = [c for c in header if c not in required and c not in optional]
    if dupes or missing or extra:
        parts = [f"{label} column(s) {cols}" for label, cols in
                 (("duplicate", dupes), ("missing", missing), ("unexpected", extra)) if cols]
        expected = ",".join(required) + (f" (optional: {','.join(optional)})" if optional else "")
        raise HumanDataError(f"{path}: line 1 (header): {'; '.join(parts)}; "
                             f"expected columns {expected}")
    if not rows:
        raise HumanDataError(f"{path}: the file has a header but no data rows")

    table = _Table(path, pd.DataFrame(rows, columns=header, dtype=object),
                   np.asarray(lines), [])
    n_fields = dict(short)
    table.flag(np.isin(np.arange(len(rows)), list(n_fields)), header[0], "wrong_field_count",
               lambda i: f"{n_fields[i]} fields where the header has {len(header)}")
    return table


def shown_image_ids(trials_path: str | os.PathLike, known: Collection[str],
                    on_invalid: str = _HUMANS["on_invalid"]) -> set[str]:
    """The dataset's images that the trials file shows (they must go to the test split).

    The file is read as :func:`load_human_data` reads it (stripped cells, blank lines skipped), so
    the two agree on every id; catch trials (``flag`` holds ``catch``) are not counted. With
    ``on_invalid="error"`` an ``image_id`` that is not in ``known`` (or a row with the wrong
    number of fields) is a :class:`HumanDataError` naming the file, row,
    line, column and value, raised before anything is computed from the dataset; with ``"drop"``
    such rows are left to :func:`load_human_data`, which drops and counts them.
    """
    table = _read_csv(trials_path, TRIAL_COLUMNS, OPTIONAL_TRIAL_COLUMNS)
    ids = table.frame["image_id"]
    # Catch trials show images outside the test split on purpose.
    shown = (~table.frame["flag"].map(lambda v: "catch" in v.split()) if "flag" in table.frame
             else pd.Series(True, index=ids.index))
    is_known = ids.isin(list(known))
    table.flag(shown & (ids != "") & ~is_known, "image_id", "unknown_image",
               "image_id not in the dataset (after keeping dataset.expressions)")
    if on_invalid == "error" and table.issues:
        _raise_issues([table])
    return set(ids[shown & is_known])


def require_stimulus_sizes(trials_path: str | os.PathLike) -> None:
    """Check that every trial gives the size its stimulus was shown at (``humans.stimulus:
    original``: the original images differ in size, so it cannot default to ``image_size``).

    A missing ``stimulus_width``/``stimulus_height`` column or a blank cell is a
    :class:`HumanDataError` naming the file, the first such row (1 = the first data row) and the
    column.
    """
    raw = pd.read_csv(trials_path, dtype=str, keep_default_na=False)
    for col in ("stimulus_width", "stimulus_height"):
        blank = (raw[col].str.strip() == "").to_numpy() if col in raw else np.ones(len(raw), bool)
        if blank.any():
            raise HumanDataError(
                f"{trials_path}: row {int(np.argmax(blank)) + 1}, column {col!r}: "
                "missing; with humans.stimulus: original every trial must give the size the "
                "original image was shown at (stimulus_width, stimulus_height)")

def _number(frame: pd.DataFrame, column: str) -> np.ndarray:
    """Column as float; empty or non-numeric cells and non-finite values become NaN."""
    values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float, copy=True)
    values[~np.isfinite(values)] = np.nan
    return values


def _keys(frame: pd.DataFrame) -> list[tuple[str, str]]:
    return list(zip(frame["participant_id"], frame["trial_id"]))


def _check_trials(table: _Table, labels: dict[str, str], allowed: tuple[str, ...],
                  default: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Flag invalid trial rows; return each row's stimulus (width, height) (NaN if invalid)."""
    f = table.frame
    for col in ("participant_id", "trial_id", "image_id", "option_a", "option_b", "response"):
        table.flag(f[col] == "", col, "empty_value", "empty value")

    rt = _number(f, "rt_ms")
    table.flag(np.isnan(rt), "rt_ms", "not_numeric", "not a finite number")
    table.flag(rt < 0, "rt_ms", "negative_time", "negative response time")

    sizes = []
    for col, fallback in zip(STIMULUS_SIZE_COLUMNS, default):
        if col not in f:
            sizes.append(np.full(len(f), fallback))
            continue
        size = _number(f, col)
        given = (f[col] != "").to_numpy()
        table.flag(given & ~(size > 0), col, "invalid_stimulus_size",
                   "stimulus size must be a positive number of pixels")
        sizes.append(np.where(given, np.where(size > 0, size, np.nan), fallback))

    if "n_clicks" in f:
        n = _number(f, "n_clicks")
        table.flag((f["n_clicks"] != "") & ~((n >= 0) & (np.round(n) == n)), "n_clicks",
                   "not_integer", "n_clicks must be an integer >= 0")
    if "flag" in f:
        unknown = f["flag"].map(lambda v: not set(v.split()) <= set(FLAGS))
        table.flag(unknown, "flag", "unknown_flag",
                   f"flag must be empty or words of {' '.join(FLAGS)}")

    for col in ("option_a", "option_b"):
        table.flag((f[col] != "") & ~f[col].isin(allowed), col, "unknown_option",
                   f"not a canonical expression name of this run (dataset.expressions: "
                   f"{' '.join(allowed)})")
    options_ok = f["option_a"].isin(allowed) & f["option_b"].isin(allowed)
    table.flag(options_ok & (f["option_a"] == f["option_b"]), "option_b", "same_options",
               "option_b equals option_a")
    table.flag((f["response"] != "") & (f["response"] != f["option_a"])
               & (f["response"] != f["option_b"]), "response", "invalid_response",
               lambda i: f"not one of option_a/option_b "
                         f"({f['option_a'].iat[i]!r}, {f['option_b'].iat[i]!r})")
    known = f["image_id"].isin(list(labels))
    table.flag((f["image_id"] != "") & ~known, "image_id", "unknown_image",
               "image_id not in the image manifest")
    label = f["image_id"].map(labels)
    table.flag(known & options_ok & (label != f["option_a"]) & (label != f["option_b"]),
               "image_id", "label_not_in_options",
               lambda i: f"the image's true label {label.iat[i]!r} is not among the options "
                         f"({f['option_a'].iat[i]!r}, {f['option_b'].iat[i]!r})")

    # Every copy of a repeated (participant_id, trial_id) is flagged: nothing says which is right.
    has_key = ((f["participant_id"] != "") & (f["trial_id"] != "")).to_numpy()
    dup = f.duplicated(KEY, keep=False).to_numpy() & has_key
    keys = _keys(f)
    rows_of: dict[tuple[str, str], list[int]] = {}
    for i in np.flatnonzero(dup):
        rows_of.setdefault(keys[i], []).append(int(i) + 1)
    table.flag(dup, "trial_id", "duplicate_trial",
               lambda i: f"(participant_id, trial_id) = {keys[i]!r} repeated in rows "
                         f"{rows_of[keys[i]]}")
    return sizes[0], sizes[1]


def _check_clicks(table: _Table, trials: _Table,
                  sizes: tuple[np.ndarray, np.ndarray]) -> None:
    """Flag invalid click rows; bounds come from the stimulus size of each click's trial."""
    f = table.frame
    for col in ("participant_id", "trial_id"):
        table.flag(f[col] == "", col, "empty_value", "empty value")
    index = _number(f, "click_index")
    table.flag(np.isnan(index), "click_index", "not_numeric", "not a finite number")
    table.flag(~np.isnan(index) & (np.round(index) != index), "click_index", "not_integer",
               "click_index must be an integer")
    table.flag(index < 0, "click_index", "negative_click_index", "click_index must be >= 0")
    coords = {c: _number(f, c) for c in ("x", "y", "t_ms")}
    for col, values in coords.items():
        table.flag(np.isnan(values), col, "not_numeric", "not a finite number")
    table.flag(coords["t_ms"] < 0, "t_ms", "negative_time", "negative time")

    # The first copy of a duplicated trial key stands in for the bounds; such trials are bad anyway.
    trial_row = {k: i for i, k in reversed(list(enumerate(_keys(trials.frame))))}
    row = np.array([trial_row.get(k, -1) for k in _keys(f)])
    has_key = ((f["participant_id"] != "") & (f["trial_id"] != "")).to_numpy()
    table.flag(has_key & (row < 0), "trial_id", "no_trial",
               lambda i: f"no trial (participant_id, trial_id) = "
                         f"({f['participant_id'].iat[i]!r}, {f['trial_id'].iat[i]!r}) "
                         f"in {trials.path.name}")
    for col, size, size_col in (("x", sizes[0], "stimulus_width"),
                                ("y", sizes[1], "stimulus_height")):
        bound = np.where(row >= 0, size[np.maximum(row, 0)], np.nan)
        value = coords[col]
        table.flag((value < 0) | (value > bound), col, "outside_stimulus",
                   lambda i, bound=bound, size_col=size_col:
                   f"outside the stimulus [0, {bound[i]:g}] ({size_col} of the trial)")

    numbered = pd.DataFrame({"p": f["participant_id"], "t": f["trial_id"], "k": index})
    dup = numbered.duplicated(keep=False).to_numpy() & has_key & ~np.isnan(index)
    table.flag(dup, "click_index", "duplicate_click_index",
               lambda i: f"click_index repeated within trial "
                         f"({f['participant_id'].iat[i]!r}, {f['trial_id'].iat[i]!r})")


def _check_click_counts(trials: _Table, clicks: _Table) -> None:
    """Flag trials whose ``n_clicks`` differs from their rows in the clicks file."""
    if "n_clicks" not in trials.frame:
        return
    given = _number(trials.frame, "n_clicks")
    found = pd.Series(_keys(clicks.frame), dtype=object).value_counts()
    have = np.array([found.get(k, 0) for k in _keys(trials.frame)], dtype=float)
    bad = (trials.frame["n_clicks"] != "").to_numpy() & ~np.isnan(given) & (given != have)
    trials.flag(bad, "n_clicks", "click_count_mismatch",
                lambda i: f"the trial has {int(have[i])} click row(s) in {clicks.path.name} "
                          f"(clicks missing or from another session?)")


def _raise_issues(tables: list[_Table]) -> None:
    messages = [t.describe(i) for t in tables for i in sorted(t.issues, key=lambda i: i.row)]
    listed = messages[:MAX_LISTED]
    if len(messages) > MAX_LISTED:
        listed.append(f"... and {len(messages) - MAX_LISTED} more")
    raise HumanDataError(
        f"{len(messages)} problem(s) in the human data; nothing was used:\n  "
        + "\n  ".join(listed)
        + "\nFix the files, or set humans.on_invalid: drop to drop the offending rows "
          "(they are then counted in results/humans/qc.csv).")


def _qc_frame(tables: list[_Table]) -> pd.DataFrame:
    return pd.DataFrame([r for t in tables for r in t.qc()], columns=QC_COLUMNS)


def read_validated(trials_path: str | os.PathLike, clicks_path: str | os.PathLike | None = None
                   ) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Read back ``results/humans/trials.csv`` (and ``clicks.csv``) as written after validation.

    Ids are read as strings (``"007"`` stays ``"007"``, ``"NA"`` stays ``"NA"``: see
    :func:`ferattention.io.read_table`). Returns ``(trials, clicks)``; ``clicks`` is None without
    a path.
    """
    trials = read_table(trials_path)
    clicks = None if clicks_path is None else read_table(clicks_path)
    return trials, clicks
