"""The human side: ingest and validate click data, build human attention maps, estimate their
reliability, and simulate observers for the embedded default (docs/design.md §4.4, §7, §11.2)."""

from .ingest import HumanDataError, load_human_data, read_validated, shown_image_ids
from .maps import (
    fixation_maps,
    human_maps,
    reveal_mask,
    revealed_fraction,
    stimulus_to_model_scale,
    to_model_coords,
    trial_map,
)
from .reliability import split_half_reliability
from .simulate import DEFAULT_PARAMS, simulate_observers
from .views import hidden_image, human_view_predictions, uncovered_views

__all__ = [
    "DEFAULT_PARAMS",
    "HumanDataError",
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
    "split_half_reliability",
    "stimulus_to_model_scale",
    "to_model_coords",
    "trial_map",
    "uncovered_views",
]
