"""A run's configuration: the command line's defaults are the dataclasses', and stored configurations
come back exactly, refusing settings they do not know."""
from __future__ import annotations

from pathlib import Path

import pytest

from engine.checkpoint import read_checkpoint
from engine.harmonizer import DEFAULT_CHECKPOINT
from engine.model.generator import GeneratorConfig
from engine.training_protocol import held_out_count
from harmonizer_cli import program
from trainer.cli import SETTINGS, config_from_args
from trainer.config import TrainConfig
from trainer.loop import RunError
from trainer.dataset import DataConfig
from trainer.losses import LossConfig
from trainer.negatives import NegativeConfig
from trainer.sources import split_indices
from trainer.synthesis import SynthesisConfig


def _config(*argv: str) -> TrainConfig:
    return config_from_args(program.build_parser("train").parse_args(["train", "--data", "photos", "--out", "run", *argv]))


def test_the_command_lines_defaults_are_the_configurations() -> None:
    assert _config() == TrainConfig(data=(str(Path("photos").resolve()),), out="run")
    assert _config().epochs == TrainConfig.DEFAULT_EPOCHS and _config("--steps", "5").epochs is None


def test_every_setting_reaches_its_field() -> None:
    values = {"--batch-size": "3", "--size": "64", "--device": "cpu", "--init": "start.safetensors", "--lr": "0.5",
              "--weight-decay": "0.25", "--seed": "7", "--workers": "0", "--val-every": "4", "--val-limit": "9", "--checkpoint-every": "11",
              "--log-every": "2", "--mask-shapes": "cutouts", "--shape-probability": "0.25",
              "--identity-fraction": "0.125", "--retouch-probability": "0.375", "--negatives": "3",
              "--style-weight": "0.5", "--harm-weight": "2.5", "--vgg-weights": "random",
              "--style-size": "32", "--head": "rgb", "--base": "classical", "--width": "8", "--prior-samples": "64",
              "--prior-strength": "0.75", "--prior-weight": "0.625",
              "--prior-dead-zone": "0.125"}
    # Fields that are off unless given; --gate needs the mapping head.
    switches = {"--gate", "--gate-only", "--gate-by-kind", "--prior-only", "--prior-extremes", "--prior-encoder",
                "--mixer-only"}
    assert set(values) | switches | {"--pastes"} == {setting.flag for setting in SETTINGS}
    pasting = _config("--prior-only", "--init", "m.safetensors", "--pastes", "5", "--paste-from", "a", "--paste-from", "b")
    assert pasting.pastes == 5 and pasting.paste_from == ("a", "b") and _config().pastes == 0
    assert _config("--gate").generator.gate and not _config().generator.gate
    assert _config("--gate", "--gate-only", "--init", "m.safetensors").gate_only and not _config().gate_only
    assert _config("--prior-only", "--init", "m.safetensors").prior_only and not _config().prior_only
    assert _config("--mixer-only", "--init", "m.safetensors").mixer_only and not _config().mixer_only
    fit = ("--prior-only", "--init", "m.safetensors")
    assert _config(*fit, "--prior-extremes").generator.prior_extremes and not _config().generator.prior_extremes
    assert _config(*fit, "--prior-encoder").generator.prior_encoder and not _config().generator.prior_encoder
    config = _config(*(item for pair in values.items() for item in pair), "--prior-only", "--epochs", "2")
    sections = {TrainConfig: config, DataConfig: config.data_config, SynthesisConfig: config.data_config.synthesis,
                LossConfig: config.loss, NegativeConfig: config.negatives, GeneratorConfig: config.generator}
    for setting in SETTINGS:
        value = getattr(sections[setting.config], setting.name)
        if setting.flag not in switches | {"--pastes"}:
            assert value == (setting.parse or type(value))(values[setting.flag]), setting.flag
    assert config.epochs == 2 and config.steps is None
    assert config.seed == 7 and config.init == str(Path("start.safetensors").resolve())


def test_prior_settings_without_a_prior_fit_are_refused_not_dropped() -> None:
    for run in ((), ("--mixer-only", "--init", "m.safetensors")):
        with pytest.raises(RunError, match="--prior-dead-zone, --prior-encoder: the statistics prior's settings"):
            _config(*run, "--prior-dead-zone", "0.025", "--prior-encoder")
    assert _config("--mixer-only", "--init", "m.safetensors").mixer_only  # defaults are not settings given


def test_a_gate_by_kind_has_one_kind_per_data_folder_and_needs_two() -> None:
    config = _config("--data", "more", "--data", "still more", "--gate", "--gate-by-kind")
    assert config.gate_by_kind and config.generator.gate_kinds == len(config.data) == 3
    assert _config("--data", "more", "--gate").generator.gate_kinds == 0
    for alone in (("--gate", "--gate-by-kind"), ("--data", "more", "--gate-by-kind")):  # one folder; no gate
        with pytest.raises(RunError, match="--gate-by-kind needs --gate, and a data folder per kind"):
            _config(*alone)


def test_a_stored_configuration_comes_back_and_unknown_settings_are_refused() -> None:
    config = _config("--size", "32", "--seed", "3", "--steps", "4")
    assert TrainConfig.from_dict(config.to_dict()) == config
    stored = config.to_dict()
    for broken, where in (({**stored, "colour": 1}, "TrainConfig settings: colour"),
                          ({**stored, "loss": {**stored["loss"], "gamma": 1}}, "LossConfig settings: gamma"),
                          ({**stored, "data_config": {**stored["data_config"], "synthesis": {"hue": 0}}},
                           "SynthesisConfig settings: hue"),
                          ({**stored, "generator": {**stored["generator"], "colour_space": "lab"}},
                           "GeneratorConfig settings: colour_space")):
        with pytest.raises(ValueError, match=f"unknown {where}"):
            TrainConfig.from_dict(broken)


def test_runs_saved_with_the_seed_twice_still_resume() -> None:
    config = _config("--size", "32", "--seed", "3", "--steps", "4")
    assert TrainConfig.from_dict({**config.to_dict(), "seed": 3}) == config


def test_the_bundled_models_training_configuration_still_reads() -> None:
    _, meta = read_checkpoint(DEFAULT_CHECKPOINT)
    config = TrainConfig.from_dict(meta["train_config"])
    assert config.generator == GeneratorConfig.from_dict(meta["architecture"])
    assert config.seed == meta["training"]["seed"]


@pytest.mark.parametrize("count", [0, 1, 2, 3, 19, 20, 21, 30, 200])
def test_the_gui_and_the_trainer_hold_out_the_same_number_of_photos(count: int) -> None:
    assert len(split_indices(count, DataConfig().val_fraction, seed=0)[1]) == held_out_count(count)
