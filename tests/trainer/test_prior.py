"""Fitting a model's statistics prior through the command line, and the fit's parts."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from engine.checkpoint import load_generator
from engine.exit_codes import EXIT_INPUT
from tests.trainer.test_run import events, train
from trainer.prior import prior_loss, sample_keys


def test_the_fit_is_scored_by_the_error_left_in_the_foregrounds_statistics() -> None:
    target = torch.tensor([[0.2, -0.1, 0.0, 0.3, 0.0, 0.0]])
    spreads = torch.tensor([[10.0, 5.0, 5.0]])
    assert prior_loss(target, target, spreads) == 0
    mean_off = prior_loss(target + torch.tensor([[0.1, 0, 0, 0, 0, 0]]), target, spreads)
    spread_off = prior_loss(target + torch.tensor([[0, 0, 0, 0.1, 0, 0]]), target, spreads)
    assert mean_off == pytest.approx(0.01) and spread_off == pytest.approx((0.1 * 10 / 50) ** 2)


def test_composites_are_drawn_in_whole_passes_each_made_anew() -> None:
    keys = sample_keys(4, 10, seed=1)
    assert len(keys) == 10 and keys == sample_keys(4, 10, seed=1)
    assert sorted(i for epoch, i in keys if epoch == 0) == [0, 1, 2, 3]
    assert [epoch for epoch, _ in keys] == [0] * 4 + [1] * 4 + [2] * 2


def test_a_prior_fitted_on_a_trained_model_changes_the_prior_alone(photo_folder: Path, tmp_path: Path) -> None:
    assert train(photo_folder, tmp_path / "base", "--steps", "2", "--gate") == 0
    base = tmp_path / "base" / "last.safetensors"
    out = tmp_path / "fit"
    assert train(photo_folder, out, "--init", str(base), "--prior-only", "--prior-samples", "24", "--steps", "6",
                 "--prior-weight", "0.25", "--batch-size", "8", "--identity-fraction", "0.5", "--progress", "json") == 0
    kinds = [e["event"] for e in events(out)]
    assert kinds[0] == "start" and kinds.count("step") == 6 and kinds[-3:] == ["validation", "checkpoint", "done"]
    fitted, _ = load_generator(out / "best.safetensors")
    assert fitted.config.prior and fitted.config.prior_weight == 0.25
    before, after = load_generator(base)[0].state_dict(), fitted.state_dict()
    assert all(torch.equal(before[name], after[name]) for name in before)
    prior = {name: value for name, value in after.items() if name.startswith("prior.")}
    assert set(after) - set(before) == set(prior)
    assert prior["prior.net.6.weight"].abs().sum() > 0  # it learnt from zero
    assert not torch.equal(prior["prior.input_std"], torch.ones_like(prior["prior.input_std"]))


def test_the_same_seed_fits_the_same_prior(photo_folder: Path, tmp_path: Path) -> None:
    assert train(photo_folder, tmp_path / "base", "--steps", "1") == 0
    fit = ("--init", str(tmp_path / "base" / "last.safetensors"), "--prior-only", "--prior-samples", "8", "--steps", "3")
    assert train(photo_folder, tmp_path / "a", *fit) == 0 and train(photo_folder, tmp_path / "b", *fit) == 0
    a, b = (load_generator(tmp_path / run / "best.safetensors")[0].state_dict() for run in ("a", "b"))
    assert all(torch.equal(a[name], b[name]) for name in a)


def test_a_prior_needs_a_trained_model_and_a_fitted_one_is_not_overwritten(photo_folder: Path, tmp_path: Path,
                                                                            capsys) -> None:
    assert train(photo_folder, tmp_path / "fit", "--prior-only", "--steps", "2") == EXIT_INPUT
    assert "--prior-only fits the statistics prior of a trained model" in capsys.readouterr().err
    assert train(photo_folder, tmp_path / "base", "--steps", "1") == 0
    base = tmp_path / "base" / "last.safetensors"
    fit = ("--init", str(base), "--prior-only", "--prior-samples", "8", "--steps", "2")
    assert train(photo_folder, tmp_path / "fit", *fit) == 0
    written = (tmp_path / "fit" / "best.safetensors").read_bytes()
    assert train(photo_folder, tmp_path / "fit", *fit) == EXIT_INPUT
    assert "already holds a fitted model" in capsys.readouterr().err
    assert (tmp_path / "fit" / "best.safetensors").read_bytes() == written
