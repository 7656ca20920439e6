"""Data sets: the sources (:mod:`.sources`, a registry by ``dataset.source``), image decoding and
standardisation (:mod:`.images`), landmark region masks (:mod:`.landmarks`), the types they share
(:mod:`.core`) and the prepared set on disk (:mod:`.prepared`). The public names are re-exported
here: ``from ferattention import datasets; datasets.load_dataset(config)``.
"""

from .core import LABEL_ALIASES, QC_COLUMNS, Dataset, DatasetError, canonical_label
from .images import CROPS, IMAGE_SUFFIXES, read_image, standardise_image
from .landmarks import LANDMARK_PARTS, N_LANDMARKS, crop_points, landmark_masks, parse_landmarks
from .prepared import (GEOMETRY_COLUMNS, MANIFEST_COLUMNS, dataset_examples, image_filename,
                       read_prepared, stimulus_geometries, write_prepared)
from .sources import (AFFECTNET_CODES, AFFECTNET_DROPPED_CODES, FER2013_CODES, ON_INVALID, SOURCES,
                      SPLIT_FOLDERS, load_affectnet, load_dataset, load_fer2013, load_imagefolder,
                      load_manifest, load_synthetic)

__all__ = [
    "AFFECTNET_CODES", "AFFECTNET_DROPPED_CODES", "CROPS", "FER2013_CODES", "GEOMETRY_COLUMNS",
    "IMAGE_SUFFIXES", "LABEL_ALIASES", "LANDMARK_PARTS", "MANIFEST_COLUMNS", "N_LANDMARKS",
    "ON_INVALID", "QC_COLUMNS", "SOURCES", "SPLIT_FOLDERS", "Dataset", "DatasetError",
    "canonical_label", "crop_points", "dataset_examples", "image_filename", "landmark_masks",
    "load_affectnet", "load_dataset", "load_fer2013", "load_imagefolder", "load_manifest",
    "load_synthetic", "parse_landmarks", "read_image", "read_prepared", "standardise_image",
    "stimulus_geometries", "write_prepared",
]
