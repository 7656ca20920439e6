"""Dataset adapters, splits and 2AFC trials on small fixtures written by the tests."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from ferattention import datasets, splits, trials


def _write_image(path: Path, value: int, size=(40, 30), mode="L") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, value if mode == "L" else (value,) * 3).save(path)


def test_imagefolder_maps_aliases_and_standardises(tmp_path):
    _write_image(tmp_path / "Happiness" / "a.png", 200)
    _write_image(tmp_path / "angry" / "b.jpg", 50, size=(20, 60), mode="RGB")
    data = datasets.load_imagefolder(tmp_path, size=16)
    assert list(data.frame["label"]) == ["happy", "anger"] or set(data.frame["label"]) == {"happy", "anger"}
    assert set(data.frame["image_id"]) == {"Happiness/a", "angry/b"}
    assert data.images.shape == (2, 16, 16) and data.images.dtype == np.float32
    happy = data.frame.index[data.frame["label"] == "happy"][0]
    assert np.allclose(data.images[happy], 200 / 255, atol=1 / 255)
    # Centre crop of a 20x60 image keeps the middle 20x20 square.
    anger = data.frame.loc[data.frame["label"] == "anger"].iloc[0]
    assert (anger["crop_left"], anger["crop_top"], anger["crop_right"], anger["crop_bottom"]) == (0, 20, 20, 40)


def test_imagefolder_unknown_label_lists_labels(tmp_path):
    _write_image(tmp_path / "confused" / "a.png", 10)
    with pytest.raises(datasets.DatasetError, match="unknown expression label 'confused'"):
        datasets.load_imagefolder(tmp_path, size=8)
    data = datasets.load_imagefolder(tmp_path, size=8, label_map={"confused": "surprise"})
    assert list(data.frame["label"]) == ["surprise"]


def test_corrupt_and_empty_images_name_the_file(tmp_path):
    (tmp_path / "happy").mkdir()
    (tmp_path / "happy" / "empty.png").write_bytes(b"")
    with pytest.raises(datasets.DatasetError, match=r"empty\.png.*empty image"):
        datasets.load_imagefolder(tmp_path, size=8)
    (tmp_path / "happy" / "empty.png").write_bytes(b"not an image at all")
    with pytest.raises(datasets.DatasetError, match=r"empty\.png: cannot read image"):
        datasets.load_imagefolder(tmp_path, size=8)


def test_manifest_keeps_identity_and_split(tmp_path):
    _write_image(tmp_path / "img" / "x.png", 100)
    _write_image(tmp_path / "img" / "y.png", 100)
    (tmp_path / "m.csv").write_text(
        "image_id,path,label,identity,split\nx,img/x.png,sad,p1,train\ny,img/y.png,fearful,p2,test\n")
    data = datasets.load_manifest(tmp_path / "m.csv", size=8)
    assert data.frame[["image_id", "label", "identity", "split"]].values.tolist() == [
        ["x", "sad", "p1", "train"], ["y", "fear", "p2", "test"]]
    (tmp_path / "bad.csv").write_text("image_id,path,label\nx,img/missing.png,sad\n")
    with pytest.raises(datasets.DatasetError, match=r"bad\.csv, line 2, column 'path'"):
        datasets.load_manifest(tmp_path / "bad.csv", size=8)


def test_fer2013_codes_and_usage(tmp_path):
    pixels = " ".join(["128"] * 48 * 48)
    (tmp_path / "fer.csv").write_text(
        f"emotion,pixels,Usage\n3,{pixels},Training\n0,{pixels},PrivateTest\n")
    data = datasets.load_fer2013(tmp_path / "fer.csv", size=24)
    assert data.frame[["image_id", "label", "split"]].values.tolist() == [
        ["fer2013-0", "happy", "train"], ["fer2013-1", "anger", "test"]]
    assert np.allclose(data.images, 128 / 255, atol=1e-6)
    (tmp_path / "bad.csv").write_text("emotion,pixels,Usage\n9,1 2 3 4,Training\n")
    with pytest.raises(datasets.DatasetError, match=r"line 2, column 'emotion'"):
        datasets.load_fer2013(tmp_path / "bad.csv", size=24)


def test_affectnet_crops_by_face_box_and_drops_codes_8_to_10(tmp_path):
    im = np.zeros((40, 40), np.uint8)
    im[10:20, 20:30] = 255  # the "face"
    (tmp_path / "imgs" / "1").mkdir(parents=True)
    Image.fromarray(im).save(tmp_path / "imgs" / "1" / "a.png")
    header = ("subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,"
              "expression,valence,arousal\n")
    (tmp_path / "aff.csv").write_text(header + "1/a.png,20,10,10,10,,7,0,0\n1/a.png,0,0,5,5,,9,0,0\n")
    data = datasets.load_affectnet(tmp_path / "aff.csv", tmp_path / "imgs", size=8)
    assert data.frame[["image_id", "label"]].values.tolist() == [["1/a", "contempt"]]
    # Only the white face box is kept (the resampling filter may touch its border pixels).
    assert data.images[0, 1:-1, 1:-1].min() > 0.99 and data.images.mean() > 0.9


def test_splits_are_identity_disjoint_stratified_and_keep_human_images_in_test():
    rng = np.random.default_rng(0)
    rows = [{"image_id": f"id{i:02d}/{e}_{k}", "identity": f"id{i:02d}", "label": e}
            for i in range(40) for e in ("happy", "sad", "anger") for k in range(2)]
    frame = pd.DataFrame(rows)
    forced = [frame["image_id"][rng.integers(len(frame))] for _ in range(3)]
    frame["split"] = splits.assign_splits(frame, {"train": 0.7, "val": 0.15, "test": 0.15}, 3, forced)
    splits.check_disjoint(frame)
    assert frame.set_index("image_id").loc[forced, "split"].eq("test").all()
    share = frame.groupby("split")["identity"].nunique() / 40
    assert abs(share["train"] - 0.7) < 0.1 and abs(share["test"] - 0.15) < 0.1
    # Every split holds every label (synthetic identities carry all expressions).
    assert (frame.groupby("split")["label"].nunique() == 3).all()
    again = splits.assign_splits(frame.drop(columns="split"), {"train": 0.7, "val": 0.15, "test": 0.15}, 3, forced)
    assert again.equals(frame["split"])


def test_trials_pair_each_test_image_with_foils_and_known_2afc_answers():
    test = pd.DataFrame({"image_id": ["a", "b"], "label": ["happy", "sad"]})
    table = trials.make_trials(test, ["happy", "sad", "anger"], foils=None, seed=0)
    assert len(table) == 4 and list(table.columns) == ["trial_id", "image_id", "option_a", "option_b", "label"]
    assert ((table["option_a"] == table["label"]) ^ (table["option_b"] == table["label"])).all()
    logits = pd.DataFrame({"happy": [2.0, 0.0], "sad": [1.0, -1.0], "anger": [0.0, 5.0]}, index=["a", "b"])
    hand = pd.DataFrame({"image_id": ["a", "a", "b", "b"], "option_a": ["sad", "anger", "sad", "happy"],
                         "option_b": ["happy", "happy", "anger", "sad"]})
    assert trials.answer_2afc(logits, hand).tolist() == ["happy", "happy", "anger", "happy"]
    with pytest.raises(KeyError, match="contempt"):
        trials.answer_2afc(logits, hand.assign(option_a="contempt"))
