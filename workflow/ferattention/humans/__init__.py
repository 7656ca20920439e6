"""The human side: ingest and validate click data, build human attention maps, estimate their
reliability, and simulate observers for the embedded default (docs/design.md §4.4, §7, §11.2)."""

from .ingest import HumanDataError, load_human_data, read_validated, shown_image_ids
from .maps import (
    MAP_DEFINITIONS,
    aggregate_map,
    fixation_maps,
    human_maps,
    reveal_mask,
    revealed_fraction,
    stimulus_to_model_scale,
    to_model_coords,
    trial_fixations,
    trial_map,
    trial_maps,
)
from .reliability import SPEARMAN_BROWN_METRICS, noise_ceiling, spearman_brown
from .simulate import (
    DEFAULT_PARAMS,
    RELIABILITY_TOLERANCE,
    NoiseCalibration,
    calibrate_noise,
    expected_attention,
    simulate_observers,
)
from .views import hidden_image, human_view_predictions, uncovered_views

__all__ = [
    "DEFAULT_PARAMS",
    "MAP_DEFINITIONS",
    "NoiseCalibration",
    "RELIABILITY_TOLERANCE",
    "SPEARMAN_BROWN_METRICS",
    "aggregate_map",
    "calibrate_noise",
    "HumanDataError",
    "expected_attention",
    "fixation_maps",
    "hidden_image",
    "human_maps",
    "human_view_predictions",
    "load_human_data",
    "read_validated",
    "reveal_mask",
    "revealed_fraction",
    "shown_image_ids",
    "simulate_observers",
    "noise_ceiling",
    "spearman_brown",
    "stimulus_to_model_scale",
    "to_model_coords",
    "trial_fixations",
    "trial_map",
    "trial_maps",
    "uncovered_views",
]
