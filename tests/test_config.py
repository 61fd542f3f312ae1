"""Settings are checked in full, by stage, before anything runs."""

from __future__ import annotations

import dataclasses

import pytest

from multimodal.config import STAGES, Config
from multimodal.errors import InvalidInputError


def test_every_setting_belongs_to_exactly_one_stage() -> None:
    staged = [name for fields in STAGES.values() for name in fields]
    assert sorted(staged) == sorted(f.name for f in dataclasses.fields(Config))
    assert len(staged) == len(set(staged))


def test_the_defaults_are_valid_and_each_stage_reads_its_own_settings() -> None:
    config = Config()
    assert config.stage("image")["image_epochs"] == config.image_epochs
    assert "w_text" not in config.stage("image")


def test_every_wrong_field_is_named_with_its_stage_in_one_error() -> None:
    with pytest.raises(InvalidInputError) as info:
        Config(image_epochs=0, w_text=-1.0, store="redis", bn_momentum=1.0, eval_ordinary_words=-3)
    message = str(info.value)
    for part in ("image_epochs (image)", "w_text (text)", "store (store)", "bn_momentum (image)",
                 "eval_ordinary_words (evaluation)"):
        assert part in message


@pytest.mark.parametrize(("field", "value"), [("seed", -1), ("query_fraction", 0.0), ("index_type", "lsh"),
                                              ("text_fusion", "max"), ("image_max_seconds", 0), ("per_class", True)])
def test_values_that_would_fail_later_are_refused_at_once(field, value) -> None:
    with pytest.raises(InvalidInputError, match=field):
        Config(**{field: value})


def test_replace_checks_the_new_values_too() -> None:
    with pytest.raises(InvalidInputError, match="learning_rate"):
        Config().replace(learning_rate=0.0)
