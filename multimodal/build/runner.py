"""The one-command build: every stage after ``prepare`` runs in one staged generation, committed
at the end, so a build killed anywhere leaves the previous state served and the next build repairs it."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from multimodal.build.fingerprints import (
    STAGE_OUTPUTS,
    STATE_FILE,
    evaluation_key,
    from_shipped,
    prepared_matches,
    settings_without_folders,
    stage_inputs,
)
from multimodal.build.stages import build_index, catalog_defaults, prepare, prepared_roles, train_image, train_text
from multimodal.catalog.prepared import load_prepared, save_prepared
from multimodal.config import Config
from multimodal.errors import ArtifactError, InvalidInputError
from multimodal.io import write_json_atomic

log = logging.getLogger(__name__)


def sync_catalog(prepared_dir: Path, staged_data: Path) -> bool:
    """Make the stage's catalog the prepared one plus every item added to the previous catalog.

    Nothing happens when the stage already holds this prepared catalog (with its added items).
    When ``prepare`` wrote a new one (another seed or size), the added items move over to it,
    so no command drops them. Returns True if the stage's catalog changed.

    Raises:
        InvalidInputError: an added item's product id is taken in the new prepared catalog.
    """

    base = load_prepared(prepared_dir)
    try:
        old = load_prepared(staged_data) if (staged_data / "manifest.json").is_file() else None
    except ArtifactError as exc:
        log.warning("the previous catalog cannot be read (%s); starting from the prepared one", exc)
        old = None
    if old is not None and old.manifest.get("prepared_catalog_sha256", old.manifest["catalog_sha256"]) == base.manifest["catalog_sha256"]:
        return False
    catalog, images, manifest = base.catalog, base.images, dict(base.manifest)
    if old is not None and "source_split" in old.catalog:
        added = old.catalog[old.catalog["source_split"] == "added"]
        if len(added):
            clash = set(added["product_id"]) & set(base.catalog["product_id"])
            if clash:
                raise InvalidInputError(f"added products {sorted(clash)[:5]} clash with ids of the new prepared catalog")
            moved = added.assign(image_index=np.arange(len(base.images), len(base.images) + len(added)))
            images = np.concatenate([base.images, old.images[added["image_index"].to_numpy()]])
            catalog = pd.concat([base.catalog, moved], ignore_index=True)
            manifest.update(prepared_catalog_sha256=base.manifest["catalog_sha256"],
                            prepared_images_sha256=base.manifest["images_sha256"], added_items=len(added))
    save_prepared(staged_data, catalog, images, manifest)
    return True


def run_in_generation(config: Config, stage: Any, note: str = "") -> Any:
    """Run one stage function (``train_image``, ``build_index``, ``train_text``, ``run_evaluation``)
    on a staged copy of the live generation and commit the result as the next generation."""
    from multimodal import generations

    roles = prepared_roles(config)
    config = catalog_defaults(config, roles) if roles is not None else config
    with generations.transaction(config.artifacts_dir, legacy_data_dir=config.data_dir) as txn:
        staged = config.replace(artifacts_dir=txn.path, data_dir=txn.data_dir)
        sync_catalog(config.data_dir, staged.data_dir)
        result = stage(staged)
        txn.commit(note or getattr(stage, "__name__", "stage"))
    return result


def _evaluation(config: Config, key: str, measure: bool, report: Any) -> dict[str, Any]:
    """The figures of this build: the shipped ones when they were measured on a build with this very
    key (every setting and stage input; the default catalog's first run), else measured now."""
    from multimodal.build.shipped import install_figures, shipped_figures
    from multimodal.evaluation.evaluate import run_evaluation

    shipped = None if measure else shipped_figures(key)
    if shipped is None:
        return run_evaluation(config)
    report(f"[evaluate] the figures shipped for this very build ({shipped}); "
           "`python -m multimodal evaluate` (make evaluate) measures them on this machine")
    return install_figures(shipped, config.artifacts_dir)


def build(config: Config, force: bool = False, report: Any = print, retrain: bool = False) -> dict[str, Any]:
    """prepare -> train-image -> index -> train-text -> evaluate, skipping stages whose inputs did not change.

    Every stage after ``prepare`` writes into one staged generation that is committed at the
    end (see ``multimodal.generations``): a build killed anywhere leaves the previous engine
    state served, whole, and the next build completes the work. A stage whose output files
    are missing or damaged runs again, so ``build`` is also the repair command. The image encoder
    comes from the shipped weights when they were trained for this catalog and these settings
    (see ``multimodal.build.shipped``); ``retrain=True`` always trains from scratch.
    """
    from multimodal import generations
    from multimodal.evaluation.evaluate import METRICS_FILE
    from multimodal.io import read_json

    config.artifacts_dir.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    started = time.monotonic()

    def run(stage: str, fn: Any) -> Any:
        t0 = time.monotonic()
        report(f"[{stage}] running")
        result = fn()
        timings[stage] = round(time.monotonic() - t0, 1)
        report(f"[{stage}] done in {timings[stage]:.1f} s")
        return result

    ran_any = False
    folder = prepared_roles(config)
    if folder is not None:
        report(f"[prepare] the folder catalog {folder.name!r} prepared in {config.data_dir} "
               "(`python -m multimodal prepare --catalog FILE` prepares it again)")
        config = catalog_defaults(config, folder)
    elif force or not prepared_matches(config):
        run("prepare", lambda: prepare(config))
        ran_any = True
    else:
        report("[prepare] up to date")
    with generations.transaction(config.artifacts_dir, legacy_data_dir=config.data_dir) as txn:
        if txn.dropped:
            report(f"[repair] {txn.seeded_from}: rebuilding from damaged {', '.join(txn.dropped)}")
        staged = config.replace(artifacts_dir=txn.path, data_dir=txn.data_dir)
        if sync_catalog(config.data_dir, staged.data_dir):
            ran_any = True
        state_path = staged.artifacts_dir / STATE_FILE
        state = read_json(state_path) if state_path.is_file() else {}
        for stage, fn in (("train-image", lambda: train_image(staged, retrain=retrain, report=report)),
                          ("index", lambda: build_index(staged)),
                          ("train-text", lambda: train_text(staged, retrain=retrain, report=report))):
            key = stage_inputs(staged)[stage]
            present = all((staged.artifacts_dir / name).is_file() for name in STAGE_OUTPUTS[stage])
            shipped_but_retrain = retrain and stage == "train-image" and from_shipped(staged)
            if not force and state.get(stage) == key and present and not shipped_but_retrain:
                report(f"[{stage}] up to date")
                continue
            run(stage, fn)
            ran_any = True
            state[stage] = stage_inputs(staged)[stage]  # after the stage: the model file may be new
            write_json_atomic(state_path, state)
        # The engine loads its settings (fusion weights included) from here: keep it current even
        # when every model stage was up to date. Paths are the real folders, not the stage's.
        config_path = staged.artifacts_dir / "config.json"
        old_settings = settings_without_folders(read_json(config_path)) if config_path.is_file() else None
        write_json_atomic(config_path, config.to_dict())
        metrics_path = staged.artifacts_dir / METRICS_FILE
        eval_key = evaluation_key(config, state)
        if ran_any or force or not metrics_path.is_file() or state.get("evaluate") != eval_key:
            metrics = run("evaluate", lambda: _evaluation(staged, eval_key, retrain or force, report))
            state["evaluate"] = eval_key
            write_json_atomic(state_path, state)
            ran_any = True
        else:
            report("[evaluate] up to date")
            metrics = read_json(metrics_path)
        if ran_any or txn.base is None or txn.dropped or old_settings != settings_without_folders(config.to_dict()):
            generation = txn.commit("build")
            report(f"[commit] {generation.name} is live")
        else:
            report(f"[commit] nothing changed; {txn.seeded_from} stays live")
    timings["total"] = round(time.monotonic() - started, 1)
    return {"timings": timings, "metrics": metrics}
