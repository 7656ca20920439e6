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
    _write_image(tmp_path / "bored" / "b.png", 10)
    _write_image(tmp_path / "bored" / "c.png", 10)
    _write_image(tmp_path / "Happy" / "d.png", 10)
    # One error lists every folder name that maps to no expression.
    with pytest.raises(datasets.DatasetError,
                       match=r"unknown expression label\(s\) \['bored', 'confused'\] \(folder names\)"):
        datasets.load_imagefolder(tmp_path, size=8)
    data = datasets.load_imagefolder(tmp_path, size=8, label_map={"confused": "surprise", "bored": "neutral"})
    assert sorted(data.frame["label"]) == ["happy", "neutral", "neutral", "surprise"]
    # With drop, the images of unknown folders are counted, one row per image.
    data = datasets.load_imagefolder(tmp_path, size=8, on_invalid="drop")
    assert list(data.frame["image_id"]) == ["Happy/d"]
    assert data.qc.to_dict("records") == [{"file": tmp_path.name, "reason": "unknown_label", "n_rows": 3}]


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


# --------------------------------------------------------------------------- drop mode and qc

def test_imagefolder_drop_skips_bad_images_and_counts_them_by_reason(tmp_path):
    _write_image(tmp_path / "happy" / "good.png", 100)
    (tmp_path / "happy" / "empty.png").write_bytes(b"")
    (tmp_path / "sad").mkdir()
    (tmp_path / "sad" / "corrupt.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    _write_image(tmp_path / "sad" / "fine.jpg", 50)
    (tmp_path / "sad" / ".hidden.png").write_bytes(b"ignored: hidden files are skipped")
    with pytest.raises(datasets.DatasetError, match=r"empty\.png.*empty image"):
        datasets.load_imagefolder(tmp_path, size=8)
    data = datasets.load_imagefolder(tmp_path, size=8, on_invalid="drop")
    assert sorted(data.frame["image_id"]) == ["happy/good", "sad/fine"] and len(data.images) == 2
    assert sorted(map(tuple, data.qc[datasets.QC_COLUMNS].values.tolist())) == [
        (tmp_path.name, "empty_image", 1), (tmp_path.name, "unreadable_image", 1)]
    # Nothing usable at all is an error even with drop, and says what was dropped.
    (tmp_path / "happy" / "good.png").write_bytes(b"")
    (tmp_path / "sad" / "fine.jpg").write_bytes(b"")
    with pytest.raises(datasets.DatasetError, match="all dropped as invalid"):
        datasets.load_imagefolder(tmp_path, size=8, on_invalid="drop")


def test_qc_table_is_written_even_when_nothing_was_dropped(tmp_path):
    from ferattention import io

    _write_image(tmp_path / "data" / "happy" / "a.png", 100)
    data = datasets.load_imagefolder(tmp_path / "data", size=8, on_invalid="drop")
    io.write_csv(data.qc, tmp_path / "qc.csv")
    assert (tmp_path / "qc.csv").read_text().strip() == "file,reason,n_rows"


def test_manifest_lists_unknown_labels_and_drops_bad_rows(tmp_path):
    for name in ("a", "b", "c", "d", "e", "f"):
        _write_image(tmp_path / "img" / f"{name}.png", 100)
    (tmp_path / "broken.png").write_bytes(b"junk")
    (tmp_path / "m.csv").write_text(
        "image_id,path,label,identity,split\n"
        "a,img/a.png,happy,p1,\n"          # blank split: the workflow decides; line 2
        "b,img/b.png,bored,p1,train\n"     # unknown label (line 3)
        "c,img/c.png,sleepy,p2,test\n"     # unknown label
        "d,img/d.png,sad,,val\n"           # blank identity: its own id
        "dup,img/e.png,sad,p3,test\n"      # repeated id: every copy is invalid
        "dup,img/f.png,sad,p3,test\n"
        "g,img/missing.png,sad,p4,test\n"  # missing file
        "h,broken.png,sad,p4,test\n"       # corrupt file
        "../x,img/a.png,sad,p5,test\n"     # id escaping the images folder
        "i,img/a.png,sad,p5,later\n")      # bad split
    with pytest.raises(datasets.DatasetError,
                       match=r"m\.csv, line 3, column 'label': unknown expression label 'bored'; "
                             r"unknown labels found in this file: \['bored', 'sleepy'\]"):
        datasets.load_manifest(tmp_path / "m.csv", size=8)
    data = datasets.load_manifest(tmp_path / "m.csv", size=8, on_invalid="drop")
    frame = data.frame.set_index("image_id")
    assert list(frame.index) == ["a", "d"]
    assert frame.loc["d", "identity"] == "d" and frame.loc["d", "split"] == "val"
    assert pd.isna(frame.loc["a", "split"])
    counts = dict(zip(data.qc["reason"], data.qc["n_rows"]))
    assert counts == {"unknown_label": 2, "duplicate_image_id": 2, "missing_image": 1,
                      "unreadable_image": 1, "bad_image_id": 1, "bad_split": 1}
    assert set(data.qc["file"]) == {"m.csv"}
    # A blank split is filled by the workflow's split; the others keep theirs.
    filled = splits.assign_splits(data.frame, {"train": 1.0, "val": 0.0, "test": 0.0}, 0)
    assert filled.tolist() == ["train", "val"]


def test_fer2013_lists_unknown_codes_and_drops_bad_rows(tmp_path):
    good = " ".join(["128"] * 16)
    (tmp_path / "fer.csv").write_text(
        "emotion,pixels,Usage\n"
        f"3,{good},Training\n"
        f"7,{good},Training\n"             # unknown code (line 3)
        f"x,{good},Training\n"             # unknown code
        "4,1 2 3,Training\n"               # not square
        f"4,{good.replace('128', '300', 1)},PublicTest\n"  # outside 0-255
        f"5,{good},Later\n"                # bad Usage
        f"6,{good},\n")                    # blank Usage: the workflow's split
    with pytest.raises(datasets.DatasetError,
                       match=r"fer\.csv, line 3, column 'emotion': '7' is not a code 0-6; "
                             r"unknown values found in this file: \['7', 'x'\]"):
        datasets.load_fer2013(tmp_path / "fer.csv", size=8)
    data = datasets.load_fer2013(tmp_path / "fer.csv", size=8, on_invalid="drop")
    assert data.frame["image_id"].tolist() == ["fer2013-0", "fer2013-6"]
    assert data.frame["label"].tolist() == ["happy", "neutral"]
    assert dict(zip(data.qc["reason"], data.qc["n_rows"])) == {
        "bad_emotion": 2, "bad_pixels": 2, "bad_usage": 1}


def test_load_dataset_passes_on_invalid_and_qc(tmp_path):
    _write_image(tmp_path / "happy" / "a.png", 100)
    _write_image(tmp_path / "sad" / "b.png", 100)
    (tmp_path / "sad" / "c.png").write_bytes(b"")
    (tmp_path / "anger").mkdir()
    _write_image(tmp_path / "anger" / "d.png", 100)  # a canonical label outside the run: left out
    config = {"dataset": {"source": "imagefolder", "path": str(tmp_path), "image_size": 8,
                          "expressions": ["happy", "sad"], "on_invalid": "drop"}}
    data = datasets.load_dataset(config)
    assert sorted(data.frame["image_id"]) == ["happy/a", "sad/b"]
    assert data.qc.to_dict("records") == [{"file": tmp_path.name, "reason": "empty_image", "n_rows": 1}]
    with pytest.raises(datasets.DatasetError, match=r"c\.png"):
        datasets.load_dataset({"dataset": {**config["dataset"], "on_invalid": "error"}})



def test_every_schema_source_has_a_loader_and_an_unknown_source_is_named():
    import yaml

    schema = yaml.safe_load((Path(__file__).parents[1] / "workflow/schemas/config.schema.yaml").read_text())
    assert set(datasets.SOURCES) == set(schema["properties"]["dataset"]["properties"]["source"]["enum"])
    with pytest.raises(datasets.DatasetError, match=r"dataset\.source: unknown source 'celeba'"):
        datasets.load_dataset({"dataset": {"source": "celeba", "image_size": 8, "expressions": ["happy"]}})


def test_load_dataset_reads_a_fer2013_file_through_the_registry(tmp_path):
    rows = ["emotion,pixels,Usage", "3," + " ".join(["255"] * 4) + ",Training",
            "6," + " ".join(["0"] * 4) + ",PrivateTest", "0," + " ".join(["0"] * 4) + ","]
    (tmp_path / "fer.csv").write_text("\n".join(rows) + "\n")
    data = datasets.load_dataset({"dataset": {"source": "fer2013", "path": str(tmp_path / "fer.csv"),
                                              "image_size": 2, "expressions": ["happy", "neutral"]}})
    # code 3 = happy, 6 = neutral (FER2013's own coding); anger (0) is outside the run: left out
    assert data.frame[["image_id", "label", "split"]].values.tolist() == [
        ["fer2013-0", "happy", "train"], ["fer2013-1", "neutral", "test"]]
    assert data.images.shape == (2, 2, 2) and data.images[0].min() == 1.0 and data.images[1].max() == 0.0

# --------------------------------------------------------------------------- image folder layouts

def test_imagefolder_split_folders_map_to_splits_when_complete(tmp_path):
    for split, label in [("train", "happy"), ("validation", "sad"), ("test", "angry")]:
        _write_image(tmp_path / "full" / split / label / "1.jpg", 90)
    data = datasets.load_imagefolder(tmp_path / "full", size=8)
    assert data.frame[["image_id", "label", "split"]].values.tolist() == [
        ["test/angry/1", "anger", "test"], ["train/happy/1", "happy", "train"],
        ["validation/sad/1", "sad", "val"]]
    # Only a validation folder (as in the FER2013 sample): pooled, the workflow splits it.
    _write_image(tmp_path / "part" / "validation" / "happy" / "1.jpg", 90)
    _write_image(tmp_path / "part" / "validation" / "sad" / "2.jpg", 90)
    (tmp_path / "part" / "labels.csv").write_text("files at the top are ignored\n")
    data = datasets.load_imagefolder(tmp_path / "part", size=8)
    assert "split" not in data.frame and sorted(data.frame["image_id"]) == [
        "validation/happy/1", "validation/sad/2"]
    # crop="full" keeps the whole (stretched) image: the geometry's box is the image itself.
    data = datasets.load_imagefolder(tmp_path / "part", size=8, crop="full")
    assert data.frame[["crop_left", "crop_top", "crop_right", "crop_bottom"]].values.tolist() == [
        [0, 0, 40, 30], [0, 0, 40, 30]]


def test_images_of_any_mode_convert_the_same_way(tmp_path):
    # 16-bit gray is scaled from 0-65535 (PIL alone would clip it at 255).
    Image.fromarray(np.full((10, 10), 32896, np.uint16)).save(tmp_path / "g16.png")
    array, _ = datasets.read_image(tmp_path / "g16.png", 4)
    assert np.allclose(array, 128 / 255, atol=1e-3)
    for mode, value in [("RGB", (128, 128, 128)), ("RGBA", (128, 128, 128, 7)), ("P", 0), ("LA", (128, 9))]:
        im = Image.new(mode, (12, 6), value)
        if mode == "P":
            im.putpalette([128, 128, 128] * 256)
        im.save(tmp_path / f"{mode}.png")
        array, geometry = datasets.read_image(tmp_path / f"{mode}.png", 4)
        assert np.allclose(array, 128 / 255, atol=1e-3), mode
        assert geometry["crop_left"] == 3 and geometry["orig_width"] == 12
    # The EXIF orientation is applied: a 40x20 photo tagged "rotate 90" is 20 wide, 40 high.
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.new("L", (40, 20), 60).save(tmp_path / "rot.jpg", exif=exif)
    _, geometry = datasets.read_image(tmp_path / "rot.jpg", 4)
    assert (geometry["orig_width"], geometry["orig_height"]) == (20, 40)


def test_crop_box_outside_the_image_is_padded_black():
    image = Image.new("L", (10, 10), 255)
    array, geometry = datasets.standardise_image(image, 4, box=(-10, 0, 10, 20))
    assert (geometry["crop_left"], geometry["crop_bottom"]) == (-10, 20)
    # The image fills the top-right quarter of the box; the rest is padding (the filter blurs
    # the border between them).
    assert array[0, 3] == pytest.approx(1.0) and array[0, 0] == array[3, 0] == array[3, 3] == 0.0


# --------------------------------------------------------------------------- AffectNet landmarks

def _face_landmarks() -> np.ndarray:
    """68 iBUG points of a schematic face in a 100 x 100 box (box coordinates)."""
    pts = np.zeros((68, 2))
    t = np.linspace(0, np.pi, 17)
    pts[0:17] = np.column_stack([50 - 45 * np.cos(t), 50 + 45 * np.sin(t)])  # jaw (unused)
    pts[17:22] = np.column_stack([np.linspace(20, 44, 5), [32, 29, 28, 29, 32]])
    pts[22:27] = np.column_stack([np.linspace(56, 80, 5), [32, 29, 28, 29, 32]])
    a = np.linspace(0, 2 * np.pi, 6, endpoint=False)
    pts[36:42] = np.column_stack([32 + 7 * np.cos(a), 42 + 3 * np.sin(a)])
    pts[42:48] = np.column_stack([68 + 7 * np.cos(a), 42 + 3 * np.sin(a)])
    pts[27:31] = np.column_stack([[50, 50, 50, 50], [44, 50, 56, 62]])
    pts[31:36] = np.column_stack([np.linspace(43, 57, 5), [65, 66, 67, 66, 65]])
    m = np.linspace(0, 2 * np.pi, 12, endpoint=False)
    pts[48:60] = np.column_stack([50 + 14 * np.cos(m), 82 + 6 * np.sin(m)])
    n = np.linspace(0, 2 * np.pi, 8, endpoint=False)
    pts[60:68] = np.column_stack([50 + 8 * np.cos(n), 82 + 2 * np.sin(n)])
    return pts


def _landmark_text(points: np.ndarray) -> str:
    return ";".join(f"{v:.2f}" for v in points.ravel())


AFFECTNET_HEADER = ("subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,"
                    "expression,valence,arousal\n")


def test_affectnet_landmarks_become_region_masks_in_the_cropped_frame(tmp_path):
    (tmp_path / "imgs").mkdir()
    Image.new("RGB", (200, 120), (90, 90, 90)).save(tmp_path / "imgs" / "a.jpg")  # non-square
    Image.new("RGB", (200, 120), (90, 90, 90)).save(tmp_path / "imgs" / "b.jpg")
    box = np.array([80.0, 10.0])  # off-centre 100 x 100 face box
    pts = _face_landmarks() + box
    (tmp_path / "aff.csv").write_text(
        AFFECTNET_HEADER + f'a.jpg,80,10,100,100,"{_landmark_text(pts)}",1,0.5,0.2\n'
        "b.jpg,80,10,100,100,,2,0,0\n")
    data = datasets.load_affectnet(tmp_path / "aff.csv", tmp_path / "imgs", size=50)
    assert data.frame["image_id"].tolist() == ["a", "b"]
    assert list(data.masks) == ["a"]  # blank landmarks: no masks for that image
    masks = data.masks["a"]
    assert masks.shape == (4, 50, 50) and masks.dtype == np.uint8 and masks.sum(axis=0).max() == 1
    # Each region's mask is centred on its landmarks mapped into the 50 x 50 crop (scale 0.5).
    local = (pts - box) * 0.5
    for r, region in enumerate(["brows", "eyes", "nose", "mouth"]):
        part = np.concatenate([local[list(idx)] for idx in datasets.LANDMARK_PARTS[region]])
        rows, cols = np.nonzero(masks[r])
        centroid = np.array([cols.mean() + 0.5, rows.mean() + 0.5])
        assert np.abs(centroid - part.mean(axis=0)).max() < 2.0, region
    # The mouth fills its outer lip contour (7 x 3 pixels here) plus the margin, no more.
    assert masks[3, 41, 25] == 1 and masks[3, 41, 14] == 0 and masks[3, 36, 25] == 0
    assert masks[:, :10].sum() == 0 and masks[:, :, :5].sum() == 0


def test_affectnet_bad_landmarks_codes_and_boxes_name_row_and_column(tmp_path):
    (tmp_path / "imgs").mkdir()
    for name in "abcdef":
        Image.new("L", (60, 40), 128).save(tmp_path / "imgs" / f"{name}.png")
    good = _landmark_text(_face_landmarks() * 0.3)
    (tmp_path / "aff.csv").write_text(
        AFFECTNET_HEADER +
        f'a.png,0,0,30,30,"{good}",0,0,0\n'
        'b.png,0,0,30,30,"1;2;3",0,0,0\n'         # line 3: 3 numbers, not 136
        f'c.png,0,0,30,30,"{good}",12,0,0\n'       # unknown code
        f'd.png,0,0,0,30,"{good}",1,0,0\n'         # empty face box
        'e.png,0,0,30,30,"1;two;3",2,0,0\n'       # not numbers
        f'f.png,0,0,30,30,"{good}",10,0,0\n')      # non-face: left out, not invalid
    with pytest.raises(datasets.DatasetError, match=r"line 4, column 'expression'.*\['12'\]"):
        datasets.load_affectnet(tmp_path / "aff.csv", tmp_path / "imgs", size=16)
    fixed = (tmp_path / "aff.csv").read_text().replace(",12,0,0", ",3,0,0")
    (tmp_path / "fixed.csv").write_text(fixed)
    with pytest.raises(datasets.DatasetError,
                       match=r"fixed\.csv, line 3, column 'facial_landmarks': expected 136"):
        datasets.load_affectnet(tmp_path / "fixed.csv", tmp_path / "imgs", size=16)
    data = datasets.load_affectnet(tmp_path / "aff.csv", tmp_path / "imgs", size=16, on_invalid="drop")
    assert data.frame["image_id"].tolist() == ["a"] and list(data.masks) == ["a"]
    assert dict(zip(data.qc["reason"], data.qc["n_rows"])) == {
        "bad_landmarks": 2, "bad_expression": 1, "bad_face_box": 1}


# --------------------------------------------------------------------------- geometry for clicks

def test_click_at_face_box_centre_of_the_original_lands_at_the_model_input_centre(tmp_path):
    from ferattention.humans import fixation_maps, human_maps, to_model_coords

    (tmp_path / "imgs").mkdir()
    Image.new("L", (300, 160), 128).save(tmp_path / "imgs" / "x.png")  # non-square original
    (tmp_path / "aff.csv").write_text(AFFECTNET_HEADER + "x.png,170,20,90,120,,1,0,0\n")
    data = datasets.load_affectnet(tmp_path / "aff.csv", tmp_path / "imgs", size=32)
    geometry_csv = tmp_path / "geometry.csv"
    data.frame[datasets.GEOMETRY_COLUMNS].to_csv(geometry_csv, index=False)
    assert datasets.stimulus_geometries(geometry_csv, "prepared") is None
    geometries = datasets.stimulus_geometries(geometry_csv, "original")
    assert geometries == {"x": {"crop": (170.0, 20.0, 260.0, 140.0), "original_size": (300.0, 160.0)}}
    # The original was shown at 1.5 x its size: the box centre (215, 80) is at (322.5, 120).
    mx, my = to_model_coords(322.5, 120.0, 450, 240, 32, geometries["x"])
    assert (float(mx), float(my)) == pytest.approx((16.0, 16.0))
    mx, my = to_model_coords(1.5 * 170, 1.5 * 140, 450, 240, 32, geometries["x"])  # box corner
    assert (float(mx), float(my)) == pytest.approx((0.0, 32.0))
    trials = pd.DataFrame({"participant_id": ["p"], "trial_id": ["t"], "image_id": ["x"],
                           "stimulus_width": [450.0], "stimulus_height": [240.0]})
    clicks = pd.DataFrame({"participant_id": ["p"], "trial_id": ["t"], "click_index": [0],
                           "x": [322.5], "y": [120.0]})
    fix = fixation_maps(trials, clicks, 32, geometries=geometries)["x"]
    assert np.argwhere(fix).tolist() == [[16, 16]]
    hmap = human_maps(trials, clicks, 32, reveal_radius=6.0, blur_sigma=0.0, geometries=geometries)["x"]
    rows, cols = np.nonzero(hmap)
    assert (rows.mean() + 0.5, cols.mean() + 0.5) == pytest.approx((16.0, 16.0))


# --------------------------------------------------------------------------- examples figure

def test_dataset_examples_grid_by_identity_or_by_expression():
    frame = pd.DataFrame({
        "image_id": ["id0/happy_0", "id0/sad_0", "id1/happy_0", "id1/sad_0", "id2/happy_0"],
        "label": ["happy", "sad", "happy", "sad", "happy"],
        "identity": ["id0", "id0", "id1", "id1", "id2"],
        "split": ["train", "train", "test", "test", "test"]})
    images = np.arange(5, dtype=np.float32)[:, None, None] * np.ones((1, 4, 4), np.float32)
    cells, rows, cols = datasets.dataset_examples(frame, images, ["neutral", "happy", "sad"], n_rows=2)
    assert rows == ["id1", "id2"] and cols == ["happy", "sad"]  # test identities first
    assert cells[0][0][0, 0] == 2 and cells[0][1][0, 0] == 3 and cells[1][0][0, 0] == 4
    assert cells[1][1] is None
    alone = frame.assign(identity=frame["image_id"])  # one image per identity
    cells, rows, cols = datasets.dataset_examples(alone, images, ["happy", "sad"], n_rows=5)
    assert rows == ["example 1", "example 2", "example 3"] and cols == ["happy", "sad"]
    assert sorted(c[0][0, 0] for c in cells) == [0, 2, 4]
    assert cells[2][1] is None
