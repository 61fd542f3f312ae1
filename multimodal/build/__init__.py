"""Build stage: prepare, train, index, evaluate as fingerprinted stages, each committed as a new
generation; ``add-items`` ingests products into a built catalog; shipped weights are installed here."""

from multimodal.build.fingerprints import stage_inputs
from multimodal.build.ingest import add_items
from multimodal.build.runner import build, run_in_generation, sync_catalog
from multimodal.build.stages import build_index, image_training_set, prepare, summary_table, train_image, train_text

__all__ = [
    "add_items", "build", "build_index", "image_training_set", "prepare", "run_in_generation", "stage_inputs",
    "summary_table", "sync_catalog", "train_image", "train_text",
]
