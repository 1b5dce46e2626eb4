"""Fitting a model's statistics prior and its mixer through the command line, and the fits' parts."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from engine.checkpoint import load_generator
from engine.exit_codes import EXIT_INPUT
from engine.metrics import masked_mse
from tests.trainer.test_run import events, train
from trainer.prior import mix_fmse, mix_products, mixer_loss, prior_loss


def test_the_fit_is_scored_by_the_error_left_in_the_foregrounds_statistics() -> None:
    target = torch.tensor([[0.2, -0.1, 0.0, 0.3, 0.0, 0.0]])
    spreads = torch.tensor([[10.0, 5.0, 5.0]])
    assert prior_loss(target, target, spreads) == 0
    mean_off = prior_loss(target + torch.tensor([[0.1, 0, 0, 0, 0, 0]]), target, spreads)
    spread_off = prior_loss(target + torch.tensor([[0, 0, 0, 0.1, 0, 0]]), target, spreads)
    assert mean_off == pytest.approx(0.01) and spread_off == pytest.approx((0.1 * 10 / 50) ** 2)


def test_a_prior_fitted_on_a_trained_model_changes_the_prior_alone(photo_folder: Path, tmp_path: Path) -> None:
    assert train(photo_folder, tmp_path / "base", "--steps", "2", "--gate") == 0
    base = tmp_path / "base" / "last.safetensors"
    out = tmp_path / "fit"
    assert train(photo_folder, out, "--init", str(base), "--prior-only", "--prior-samples", "24", "--steps", "6",
                 "--prior-weight", "0.25", "--prior-extremes", "--prior-encoder", "--batch-size", "8",
                 "--identity-fraction", "0.5", "--progress", "json") == 0
    kinds = [e["event"] for e in events(out)]
    assert kinds[0] == "start" and kinds.count("step") == 6 and kinds[-3:] == ["validation", "checkpoint", "done"]
    fitted, _ = load_generator(out / "best.safetensors")
    assert fitted.config.prior and fitted.config.prior_weight == 0.25 and fitted.config.prior_extremes
    assert fitted.config.prior_encoder
    before, after = load_generator(base)[0].state_dict(), fitted.state_dict()
    assert all(torch.equal(before[name], after[name]) for name in before)
    prior = {name: value for name, value in after.items() if name.startswith("prior.")}
    assert set(after) - set(before) == set(prior)
    assert prior["prior.net.6.weight"].abs().sum() > 0  # it learnt from zero
    assert not torch.equal(prior["prior.input_std"], torch.ones_like(prior["prior.input_std"]))


def test_a_fine_tune_keeps_the_prior_and_the_encoder_it_reads(photo_folder: Path, tmp_path: Path) -> None:
    assert train(photo_folder, tmp_path / "base", "--steps", "1", "--gate") == 0
    base = tmp_path / "base" / "last.safetensors"
    assert train(photo_folder, tmp_path / "prior", "--init", str(base), "--prior-only", "--prior-encoder",
                 "--prior-samples", "8", "--steps", "2") == 0
    with_prior = tmp_path / "prior" / "best.safetensors"
    assert train(photo_folder, tmp_path / "tuned", "--init", str(with_prior), "--steps", "2", "--lr", "0.01") == 0
    before = load_generator(with_prior)[0].state_dict()
    after = load_generator(tmp_path / "tuned" / "last.safetensors")[0].state_dict()
    changed = {name for name in before if not torch.equal(before[name], after[name])}
    assert changed and not any(name.startswith(("prior.", "encoder.")) for name in changed)


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


def test_the_mix_products_give_the_fmse_of_every_mix_exactly() -> None:
    torch.manual_seed(0)
    composite, real, network, prior = (torch.rand(2, 3, 8, 8) for _ in range(4))
    mask = (torch.rand(2, 1, 8, 8) > 0.5).float()
    products = mix_products(composite, real, network, prior, mask)
    for a, b in ((0.0, 0.0), (1.0, 0.0), (0.3, 0.6)):
        mixed = composite + a * (network - composite) + b * (prior - composite)
        expected = masked_mse(mixed * 255, real * 255, mask)
        assert torch.allclose(mix_fmse(torch.tensor(a), torch.tensor(b), products), expected, rtol=1e-4)


def test_the_mixer_is_scored_by_the_error_it_leaves_and_harm_costs_more() -> None:
    # One composite whose real photo is the composite plus the network's change: all of it is right.
    n = torch.tensor([[0.0, 0.0, 0.0, 1.0, 0.0, 4.0]])  # r = 0; n·n = 1; p·p = 4
    right = torch.tensor([[1.0, 1.0, 0.0, 1.0, 0.0, 4.0]])  # r = n
    half, whole = torch.tensor([0.5]), torch.tensor([1.0])
    none = torch.tensor([0.0])
    assert mixer_loss(whole, none, right, harm_weight=0) == pytest.approx(0, abs=1e-6)
    assert mixer_loss(half, none, right, harm_weight=0) == pytest.approx(0.25)
    # On an unedited composite every change is harm, and counts (1 + harm_weight) times.
    assert mixer_loss(whole, whole, n, harm_weight=0) == pytest.approx(4.0)
    assert mixer_loss(whole, whole, n, harm_weight=3) == pytest.approx(16.0)


def test_a_mixer_fitted_on_a_model_with_a_prior_changes_the_mixer_alone(photo_folder: Path, tmp_path: Path,
                                                                         capsys) -> None:
    assert train(photo_folder, tmp_path / "base", "--steps", "2", "--gate") == 0
    base = tmp_path / "base" / "last.safetensors"
    mixer = ("--mixer-only", "--prior-samples", "24", "--steps", "6", "--batch-size", "8", "--harm-weight", "3")
    assert train(photo_folder, tmp_path / "nomix", "--init", str(base), *mixer) == EXIT_INPUT
    assert "fit one with --prior-only" in capsys.readouterr().err
    assert train(photo_folder, tmp_path / "both", "--init", str(base), "--prior-only", *mixer) == EXIT_INPUT
    assert "a prior fitted before" in capsys.readouterr().err

    prior_fit = ("--prior-only", "--prior-samples", "24", "--steps", "4", "--batch-size", "8")
    assert train(photo_folder, tmp_path / "prior", "--init", str(base), *prior_fit) == 0
    with_prior = tmp_path / "prior" / "best.safetensors"
    out = tmp_path / "mixer"
    assert train(photo_folder, out, "--init", str(with_prior), *mixer, "--identity-fraction", "0.5",
                 "--progress", "json") == 0
    assert [e["event"] for e in events(out)].count("step") == 6
    fitted, _ = load_generator(out / "best.safetensors")
    assert fitted.config.prior_mixer
    before, after = load_generator(with_prior)[0].state_dict(), fitted.state_dict()
    assert all(torch.equal(before[name], after[name]) for name in before)
    mixer_weights = {name: value for name, value in after.items() if name.startswith("prior_mixer.")}
    assert set(after) - set(before) == set(mixer_weights)
    assert mixer_weights["prior_mixer.net.6.weight"].abs().sum() > 0  # it learnt from zero
