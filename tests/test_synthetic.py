"""Tests of the synthetic face generator: determinism, formats, masks and diagnostic regions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ferattention.labels import EXPRESSIONS, REGIONS
from ferattention.synthetic import (
    Pose,
    action_units,
    diagnostic_regions,
    example_grid,
    generate_faces,
    render_face,
    sample_identity,
)

SIZE = 64
REGION = {r: i for i, r in enumerate(REGIONS)}


@pytest.fixture(scope="module")
def people():
    rng = np.random.default_rng(2024)
    return [sample_identity(rng) for _ in range(4)]


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return diagnostic_regions(list(EXPRESSIONS), size=SIZE, n_identities=6, seed=1)


def _weights(table: pd.DataFrame, a: str, b: str) -> pd.Series:
    rows = table[(table.expression_a == a) & (table.expression_b == b)]
    return rows.set_index("region").weight.reindex(list(REGIONS))


def test_generate_faces_formats_and_ids():
    expressions = ["neutral", "happy", "contempt"]
    frame, images, masks = generate_faces(3, expressions, 2, 48, seed=5, intensity_range=(0.5, 0.8))
    n = 3 * 3 * 2
    assert list(frame.columns) == ["image_id", "label", "identity", "intensity"]
    assert len(frame) == n and frame.image_id.is_unique
    assert images.shape == (n, 48, 48) and images.dtype == np.float32
    assert masks.shape == (n, 4, 48, 48) and masks.dtype == np.uint8
    assert images.min() >= 0.0 and images.max() <= 1.0
    assert set(np.unique(masks)) <= {0, 1}
    assert frame.image_id.iloc[0] == "id000/neutral_0"
    assert "id002/contempt_1" in set(frame.image_id)
    assert sorted(frame.identity.unique()) == ["id000", "id001", "id002"]
    assert (frame.image_id.str.split("/").str[0] == frame.identity).all()
    assert (frame.image_id.str.split("/").str[1].str.rsplit("_", n=1).str[0] == frame.label).all()
    posed = frame[frame.label != "neutral"].intensity
    assert (frame[frame.label == "neutral"].intensity == 0.0).all()
    assert posed.between(0.5, 0.8).all() and posed.nunique() == len(posed)
    # every image has every region, and the regions never overlap
    assert (masks.reshape(n, 4, -1).sum(axis=2) > 0).all()
    assert masks.sum(axis=1).max() == 1


def test_generate_faces_is_deterministic():
    a = generate_faces(2, ["neutral", "fear"], 2, 32, seed=11)
    b = generate_faces(2, ["neutral", "fear"], 2, 32, seed=11)
    c = generate_faces(2, ["neutral", "fear"], 2, 32, seed=12)
    pd.testing.assert_frame_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    np.testing.assert_array_equal(a[2], b[2])
    assert np.abs(a[1] - c[1]).mean() > 0.01
    # an identity's faces do not depend on how many identities are generated
    d = generate_faces(1, ["neutral", "fear"], 2, 32, seed=11)
    np.testing.assert_array_equal(a[1][:4], d[1])


def test_parallel_generation_gives_the_same_faces():
    one = generate_faces(8, ["neutral", "surprise"], 1, 24, seed=4)
    two = generate_faces(8, ["neutral", "surprise"], 1, 24, seed=4, n_jobs=2)
    pd.testing.assert_frame_equal(one[0], two[0])
    np.testing.assert_array_equal(one[1], two[1])
    np.testing.assert_array_equal(one[2], two[2])


def test_bad_arguments_are_rejected(people):
    with pytest.raises(ValueError, match="unknown expression"):
        generate_faces(1, ["neutral", "joy"], 1, 32, seed=0)
    with pytest.raises(ValueError, match="intensity_range"):
        generate_faces(1, ["neutral", "happy"], 1, 32, seed=0, intensity_range=(0.5, 1.5))
    with pytest.raises(ValueError, match="intensity"):
        render_face(people[0], "happy", 1.2, 32)
    with pytest.raises(ValueError, match="rng"):
        render_face(people[0], "happy", 1.0, 32, pose=Pose(noise=0.01))


def test_action_units_follow_facs_prototypes():
    fear = action_units("fear", 0.7)
    assert set(np.flatnonzero(fear[0])) == {1, 2, 4, 5, 20, 26}
    np.testing.assert_allclose(fear[:, [1, 2, 4, 5, 20, 26]], 0.7)
    contempt = action_units("contempt", 1.0)
    assert not contempt[0].any() and set(np.flatnonzero(contempt[1])) == {12, 14}
    assert not action_units("neutral", 1.0).any()
    jittered = action_units("happy", 0.5, np.random.default_rng(0))[:, [6, 12]]
    assert np.all((jittered >= 0.45) & (jittered <= 0.55)) and jittered[0, 0] != 0.5


@pytest.mark.parametrize("pose", [Pose(), Pose(angle=0.12, shift_x=0.04, shift_y=-0.03, scale=0.9)])
def test_changes_lie_inside_the_masks(people, pose):
    """Pixels that an expression changes lie in the masks, also when the face is moved."""
    for person in people:
        neutral, m0 = render_face(person, "neutral", 0.0, SIZE, pose=pose)
        for expression in EXPRESSIONS[1:]:
            image, m1 = render_face(person, expression, 1.0, SIZE, pose=pose)
            diff = np.abs(image - neutral)
            inside = (m0 | m1).any(axis=0)
            # only AU6's cheek highlight is drawn outside the four regions
            assert diff[inside].sum() / diff.sum() > (0.85 if expression == "happy" else 0.99)


def test_masks_cover_the_drawn_parts(people):
    person = people[0]
    image, masks = render_face(person, "surprise", 1.0, SIZE)
    # the open mouth (the darkest pixels below the eyes) is inside the mouth mask
    dark = image < 0.12
    dark[: SIZE // 2] = False
    assert dark.sum() > 5 and masks[REGION["mouth"]][dark].all()
    # the masks move with the face: shifting the face shifts the mouth mask
    _, shifted = render_face(person, "surprise", 1.0, SIZE, pose=Pose(shift_x=8 / SIZE))
    np.testing.assert_array_equal(shifted[REGION["mouth"]][:, 8:], masks[REGION["mouth"]][:, :-8])
    # regions are ordered top to bottom as on a face: brows, eyes, nose, mouth
    rows = [np.nonzero(masks[r].any(axis=1))[0].mean() for r in range(4)]
    assert rows == sorted(rows)


def _centre_row(mask: np.ndarray, columns=slice(None)) -> float:
    """Mean row of the mask's pixels in the given columns."""
    return float(np.nonzero(mask[:, columns])[0].mean())


def test_action_units_move_the_parts(people):
    """Each prototype moves its parts the FACS way (rows grow downwards)."""
    middle = slice(SIZE // 2 - 1, SIZE // 2 + 1)
    for person in people:
        brows = {e: render_face(person, e, 1.0, SIZE)[1][REGION["brows"]] for e in EXPRESSIONS}
        mouth = {e: render_face(person, e, 1.0, SIZE)[1][REGION["mouth"]] for e in EXPRESSIONS}
        # AU1+2 raise the brows, AU4 lowers them
        assert _centre_row(brows["surprise"]) < _centre_row(brows["neutral"]) - 1.5
        assert _centre_row(brows["anger"]) > _centre_row(brows["neutral"]) + 1.0
        # AU1 raises the inner ends relative to the outer ends: sad (AU1+4) against anger (AU4)
        cols = np.nonzero(brows["neutral"].any(axis=0))[0]
        outer = np.r_[cols[:4], cols[-4:]]
        inner = np.r_[SIZE // 2 - 6:SIZE // 2 + 6]
        slant = {e: _centre_row(brows[e], outer) - _centre_row(brows[e], inner) for e in ("sad", "anger")}
        assert slant["sad"] > slant["anger"] + 2.0
        # AU12 lifts the mouth corners, AU15 lowers them (corners: the neutral mouth's ends)
        cols = np.nonzero(mouth["neutral"].any(axis=0))[0]
        corners = np.r_[cols[:3], cols[-3:]]
        lift = {e: _centre_row(mouth[e], middle) - _centre_row(mouth[e], corners)
                for e in ("happy", "sad", "neutral")}
        assert lift["happy"] > lift["neutral"] + 1.0
        assert lift["sad"] < lift["neutral"] - 1.0
        # AU26 opens the mouth
        assert mouth["surprise"].any(axis=1).sum() > mouth["neutral"].any(axis=1).sum() + 3


def test_diagnostic_table_is_complete_and_symmetric(table):
    pairs = {(a, b) for a in EXPRESSIONS for b in EXPRESSIONS if a != b}
    assert list(table.columns) == ["expression_a", "expression_b", "region", "weight"]
    assert len(table) == len(pairs) * len(REGIONS)
    assert set(zip(table.expression_a, table.expression_b)) == pairs
    sums = table.groupby(["expression_a", "expression_b"]).weight.sum()
    np.testing.assert_allclose(sums.to_numpy(), 1.0, atol=1e-12)
    assert (table.weight >= 0).all()
    forward = table.set_index(["expression_a", "expression_b", "region"]).weight
    backward = table.set_index(["expression_b", "expression_a", "region"]).weight
    pd.testing.assert_series_equal(forward.sort_index(), backward.rename_axis(forward.index.names)
                                   .sort_index())


def test_diagnostic_regions_match_the_action_units(table):
    happy = _weights(table, "happy", "neutral")
    assert happy.idxmax() == "mouth" and happy["brows"] < 0.02 and happy["nose"] < 0.02
    surprise = _weights(table, "neutral", "surprise")
    assert (surprise[["brows", "eyes", "mouth"]] > 0.2).all() and surprise["nose"] < 0.02
    assert _weights(table, "contempt", "neutral")["mouth"] > 0.98
    assert _weights(table, "sad", "neutral").idxmax() == "brows"
    assert _weights(table, "disgust", "neutral").idxmax() == "nose"
    anger = _weights(table, "anger", "neutral")
    assert anger[["brows", "eyes"]].sum() > 0.8
    # surprise and fear share AU1, 2, 5, 26: they differ by AU4 (brows) and AU20 (mouth) only
    fear = _weights(table, "fear", "surprise")
    assert fear["eyes"] < 0.02 and fear["nose"] < 0.02


def test_new_identities_differ_where_the_table_says(table, people):
    """The table, computed on other identities, predicts where two poses of a person differ."""
    for a, b in [("happy", "neutral"), ("anger", "disgust"), ("fear", "sad"), ("contempt", "happy")]:
        share = np.zeros(len(REGIONS))
        for person in people:
            image_a, masks_a = render_face(person, a, 1.0, SIZE)
            image_b, masks_b = render_face(person, b, 1.0, SIZE)
            diff = np.abs(image_a - image_b)
            share += ((masks_a | masks_b) * diff).sum(axis=(1, 2))
        share /= share.sum()
        np.testing.assert_allclose(share, _weights(table, a, b).to_numpy(), atol=0.08)


def test_contempt_is_one_sided(people):
    for person in people:
        neutral, _ = render_face(person, "neutral", 0.0, SIZE)
        contempt, masks = render_face(person, "contempt", 1.0, SIZE)
        happy, _ = render_face(person, "happy", 1.0, SIZE)
        mirror = lambda img: np.abs(img - img[:, ::-1]).sum()  # noqa: E731
        # canonical faces are mirror-symmetric except for the one-sided expression
        assert mirror(neutral) < 1e-3 and mirror(happy) < 1e-3
        assert mirror(contempt) > 3.0
        change = np.abs(contempt - neutral)
        assert change[:, SIZE // 2:].sum() > 5 * change[:, : SIZE // 2].sum()


def test_intensity_scales_the_expression(people):
    person = people[1]
    neutral, _ = render_face(person, "neutral", 0.0, SIZE)
    for expression in EXPRESSIONS[1:]:
        change = [np.abs(render_face(person, expression, i, SIZE)[0] - neutral).sum()
                  for i in (0.0, 0.3, 0.6, 1.0)]
        assert change[0] == 0.0
        assert change[1] < change[2] < change[3], expression


def test_identities_differ(people):
    faces = [render_face(p, "neutral", 0.0, SIZE)[0] for p in people]
    for i in range(len(faces)):
        for j in range(i + 1, len(faces)):
            assert np.abs(faces[i] - faces[j]).mean() > 0.02


def test_jitter_varies_images_of_one_identity(people):
    rng = np.random.default_rng(3)
    a, ma = render_face(people[0], "neutral", 0.0, SIZE, rng)
    b, mb = render_face(people[0], "neutral", 0.0, SIZE, rng)
    assert np.abs(a - b).mean() > 0.01 and (ma != mb).any()


def test_example_grid_tiles_are_the_faces():
    grid = example_grid(2, ["neutral", "surprise", "anger"], 32, seed=4)
    assert grid.shape == (64, 96) and grid.dtype == np.float32
    assert 0.0 <= grid.min() and grid.max() <= 1.0
    np.testing.assert_array_equal(grid, example_grid(2, ["neutral", "surprise", "anger"], 32, seed=4))
    tiles = grid.reshape(2, 32, 3, 32).transpose(0, 2, 1, 3)
    assert np.abs(tiles[0, 0] - tiles[0, 1]).mean() > 0.01  # expressions differ
    assert np.abs(tiles[0, 0] - tiles[1, 0]).mean() > 0.02  # identities differ
