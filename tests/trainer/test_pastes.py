"""Pastes of one photo's object onto another photo lit alike, described as composites to leave alone."""
from __future__ import annotations

from pathlib import Path

import torch

from engine.checkpoint import load_generator
from engine.exit_codes import EXIT_INPUT
from tests.trainer.test_run import train
from trainer.dataset import DataConfig, HarmonizationDataset
from trainer.pastes import background_light, light_matched_pastes, light_partners
from trainer.sources import discover


def _picture(background: tuple[float, float, float], size: int = 16) -> torch.Tensor:
    return torch.tensor(background).view(1, 3, 1, 1).expand(1, 3, size, size).clone()


def test_a_backgrounds_light_is_read_from_its_brightest_unclipped_pixels_outside_the_mask() -> None:
    picture = _picture((0.3, 0.3, 0.3))
    picture[..., :4, :] = torch.tensor([0.5, 0.6, 0.8]).view(1, 3, 1, 1)  # a bluish sky: the brightest
    picture[..., 4:6, :] = 1.0  # clipped: says nothing of the light
    mask = torch.zeros(1, 1, 16, 16)
    mask[..., 8:, :] = 1
    picture[..., 8:, :] = torch.tensor([1.0, 0.9, 0.2]).view(1, 3, 1, 1)  # the object does not count
    red_green, blue_green, level = background_light(picture, mask)[0]
    assert red_green < 0 < blue_green
    assert torch.allclose(background_light(picture, mask), background_light(_picture((0.5, 0.6, 0.8)), mask * 0),
                          atol=1e-5)
    assert level < background_light(picture * 1.2, mask)[0, 2]


def test_each_item_is_paired_with_the_nearest_light_of_another_photo() -> None:
    lights = torch.tensor([[0.0, 0.0, 0.0], [0.0, 0.01, 0.0], [0.5, 0.5, 0.5], [0.0, 0.02, 0.0]])
    photos = torch.tensor([0, 0, 1, 2])  # items 0 and 1 show the same photo
    assert light_partners(lights, photos).tolist() == [3, 3, 3, 1]


def test_a_paste_is_its_own_real_photo_with_the_object_on_another_photo(photo_folder: Path) -> None:
    dataset = HarmonizationDataset([discover(photo_folder)], "train", DataConfig(size=32, shape_probability=0.0))
    pastes = light_matched_pastes(dataset, 6, {0}, seed=1, workers=0)
    assert len(pastes) == 6
    for (object_key, background_key), item in zip(pastes.pairs, pastes):
        assert object_key[1] != background_key[1]
        assert torch.equal(item["composite"], item["real"])
        source, backdrop = dataset[object_key], dataset[background_key]
        assert torch.equal(item["mask"], source["mask"])
        inside, outside = source["mask"][0] == 1, source["mask"][0] == 0
        assert torch.allclose(item["real"][:, inside], source["real"][:, inside])
        assert torch.allclose(item["real"][:, outside], backdrop["real"][:, outside])


def test_pastes_come_only_from_the_folders_named(photo_folder: Path) -> None:
    dataset = HarmonizationDataset([discover(photo_folder)], "train", DataConfig(size=32, shape_probability=0.0))
    assert len(light_matched_pastes(dataset, 6, set(), seed=1, workers=0)) == 0


def test_a_stop_request_ends_the_search_for_pastes(photo_folder: Path) -> None:
    dataset = HarmonizationDataset([discover(photo_folder)], "train", DataConfig(size=32, shape_probability=0.0))
    assert light_matched_pastes(dataset, 6, {0}, seed=1, workers=0, stop=[True]) is None


def test_a_prior_fitted_with_pastes_learns_from_them(photo_folder: Path, tmp_path: Path, capsys) -> None:
    assert train(photo_folder, tmp_path / "base", "--steps", "1") == 0
    fit = ("--init", str(tmp_path / "base" / "last.safetensors"), "--prior-only", "--prior-samples", "8",
           "--steps", "3")
    assert train(photo_folder, tmp_path / "plain", *fit) == 0
    assert train(photo_folder, tmp_path / "pasted", *fit, "--pastes", "8", "--paste-from", photo_folder.name) == 0
    plain, pasted = (load_generator(tmp_path / run / "best.safetensors")[0].prior.state_dict()
                     for run in ("plain", "pasted"))
    assert not torch.equal(plain["input_mean"], pasted["input_mean"])  # fitted on more descriptions

    assert train(photo_folder, tmp_path / "typo", *fit, "--pastes", "8", "--paste-from", "fotos") == EXIT_INPUT
    assert f"--paste-from fotos: no such data folder; the folders are {photo_folder.name}" in capsys.readouterr().err
    assert train(photo_folder, tmp_path / "alone", *fit, "--paste-from", photo_folder.name) == EXIT_INPUT
    assert "give --pastes too" in capsys.readouterr().err
    assert train(photo_folder, tmp_path / "network", "--steps", "1", "--pastes", "8") == EXIT_INPUT
    assert "give --prior-only or --mixer-only" in capsys.readouterr().err
