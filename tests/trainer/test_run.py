"""Training runs end to end through the command line: checkpoints, progress, resume, errors."""
from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.checkpoint import load_generator, read_checkpoint
from engine.exit_codes import EXIT_INPUT
from engine.harmonizer import NetworkHarmonizer, load_harmonizer
from engine.model.generator import GeneratorConfig
from engine.pipeline import harmonize_array
from engine.training_protocol import LOSS_TERMS
from harmonizer_cli import program
from tests.trainer.conftest import TINY_RUN, make_photo_folder

ROOT = Path(__file__).resolve().parents[2]


def events(run: Path) -> list[dict]:
    path = run / "progress.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def train(data: Path, out: Path, *extra: str) -> int:
    return program.main(["train", "--data", str(data), "--out", str(out), *TINY_RUN, *extra])


def start_subprocess(data: Path, out: Path, *extra: str) -> subprocess.Popen:
    command = [sys.executable, str(ROOT / "main.py"), "train", "--data", str(data), "--out", str(out), *TINY_RUN, *extra]
    return subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(predicate, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the training run")
        time.sleep(0.05)


def test_run_writes_loadable_checkpoints_progress_and_previews(photo_folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert train(photo_folder, out, "--steps", "4", "--val-every", "2", "--progress", "json") == 0
    log = events(out)
    kinds = [e["event"] for e in log]
    assert kinds[0] == "start" and kinds[-1] == "done"
    assert log[0]["total_steps"] == 4 and log[0]["train_images"] > 0
    steps = [e for e in log if e["event"] == "step"]
    assert [e["step"] for e in steps] == [1, 2, 3, 4]
    assert set(steps[0]["losses"]) == set(LOSS_TERMS)
    assert all(np.isfinite(list(e["losses"].values())).all() for e in steps)
    assert {"lr", "images_per_s", "eta_s", "epoch"} <= set(steps[0])
    validations = [e for e in log if e["event"] == "validation"]
    assert [v["step"] for v in validations] == [2, 4]
    assert set(validations[0]["metrics"]) == {"mse", "psnr", "fmse"}
    assert Path(validations[0]["preview"]).is_file()

    model, meta = load_generator(out / "best.safetensors")
    assert meta["training"]["data"] and meta["loss"]["style_weight"] == 0.01
    assert meta["style_features"]["pretrained"] is False and "random" in meta["style_features"]["source"]
    assert set(meta["metrics"]["validation"]) == {"mse", "psnr", "fmse"}
    harmonizer = load_harmonizer(str(out / "last.safetensors"), "cpu")
    assert isinstance(harmonizer, NetworkHarmonizer)
    composite = np.full((40, 50, 3), 120, np.uint8)
    mask = np.zeros((40, 50), np.float32)
    mask[10:30, 10:30] = 1
    assert harmonize_array(harmonizer, composite, mask).shape == composite.shape
    assert model.config.width == 4


def test_progress_json_lines_reach_stdout(photo_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert train(photo_folder, tmp_path / "run", "--steps", "2", "--progress", "json") == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines[0]["event"] == "start" and lines[-1]["event"] == "done"
    assert lines[-1]["stopped"] is False and lines[-1]["best"].endswith("best.safetensors")


def test_resumed_run_ends_with_the_same_weights_as_an_uninterrupted_one(photo_folder: Path, tmp_path: Path) -> None:
    steps = ["--steps", "10", "--checkpoint-every", "2", "--val-every", "5"]
    assert train(photo_folder, tmp_path / "straight", *steps) == 0

    interrupted = tmp_path / "interrupted"
    process = start_subprocess(photo_folder, interrupted, *steps)
    wait_for(lambda: any(e["event"] == "checkpoint" and e["kind"] == "last" for e in events(interrupted)))
    process.kill()  # kill -9: no chance to clean up
    process.wait()
    assert not any(e["event"] == "done" for e in events(interrupted)), "the run finished before it was killed"
    saved_step = read_checkpoint(interrupted / "last.safetensors")[1]["training_state"]["run"]["step"]
    assert 2 <= saved_step < 10

    assert train(photo_folder, interrupted, *steps, "--resume") == 0
    straight, _ = load_generator(tmp_path / "straight" / "last.safetensors")
    resumed, _ = load_generator(interrupted / "last.safetensors")
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name


def test_sigterm_stops_cleanly_and_keeps_the_last_checkpoint(photo_folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    process = start_subprocess(photo_folder, out, "--steps", "400", "--checkpoint-every", "1000")
    wait_for(lambda: any(e["event"] == "step" for e in events(out)))
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=120) == 130
    done = [e for e in events(out) if e["event"] == "done"]
    assert done and done[0]["stopped"] is True and 0 < done[0]["step"] < 400
    assert read_checkpoint(out / "last.safetensors")[1]["training_state"]["run"]["step"] == done[0]["step"]


def test_fine_tuning_starts_from_the_given_checkpoint(photo_folder: Path, tmp_path: Path) -> None:
    assert train(photo_folder, tmp_path / "base", "--steps", "2") == 0
    base = tmp_path / "base" / "last.safetensors"
    without_size = [a for a in TINY_RUN if a not in ("--size", "32")]
    assert program.main(["train", "--data", str(photo_folder), "--out", str(tmp_path / "personal"), *without_size,
                      "--width", "8", "--steps", "2", "--init", str(base)]) == 0
    tuned, meta = load_generator(tmp_path / "personal" / "last.safetensors")
    # The checkpoint's architecture and working size win over --width and the default --size.
    assert tuned.config.width == 4 and tuned.config.working_size == 32
    assert meta["train_config"]["init"] == str(base)


def test_fine_tuning_with_gate_grows_one_on_the_given_model(photo_folder: Path, tmp_path: Path) -> None:
    assert train(photo_folder, tmp_path / "base", "--steps", "2") == 0
    base = tmp_path / "base" / "last.safetensors"
    assert train(photo_folder, tmp_path / "gated", "--steps", "2", "--init", str(base), "--gate", "--harm-weight", "1") == 0
    tuned, meta = load_generator(tmp_path / "gated" / "last.safetensors")
    assert tuned.config.gate and meta["train_config"]["loss"]["harm_weight"] == 1.0
    assert tuned.config == GeneratorConfig.from_dict({**load_generator(base)[0].config.to_dict(), "gate": True})
    rgb = np.random.default_rng(0).integers(0, 256, (40, 40, 3), dtype=np.uint8)
    mask = np.zeros((40, 40), np.float32)
    mask[10:30, 10:30] = 1
    assert harmonize_array(NetworkHarmonizer(tuned, "gated"), rgb, mask).shape == rgb.shape


def test_gate_only_fine_tuning_changes_the_gate_and_nothing_else(photo_folder: Path, tmp_path: Path) -> None:
    assert train(photo_folder, tmp_path / "base", "--steps", "2", "--gate") == 0
    base = tmp_path / "base" / "last.safetensors"
    assert train(photo_folder, tmp_path / "fit", "--steps", "3", "--init", str(base), "--gate", "--gate-only",
                 "--identity-fraction", "0.5", "--harm-weight", "1") == 0
    before, after = load_generator(base)[0].state_dict(), load_generator(tmp_path / "fit" / "last.safetensors")[0].state_dict()
    changed = {name for name in before if not torch.equal(before[name], after[name])}
    assert changed and all(name.startswith("gate_head.") for name in changed)


def test_a_gate_by_kind_learns_which_folder_a_picture_comes_from_alone(photo_folder: Path, tmp_path: Path) -> None:
    other = make_photo_folder(tmp_path / "others", seed=1)
    assert train(photo_folder, tmp_path / "base", "--steps", "2", "--gate") == 0
    base = tmp_path / "base" / "last.safetensors"
    assert train(photo_folder, tmp_path / "fit", "--data", str(other), "--steps", "3", "--init", str(base), "--gate",
                 "--gate-by-kind", "--gate-only", "--identity-fraction", "0.5", "--progress", "json") == 0
    tuned = load_generator(tmp_path / "fit" / "last.safetensors")[0]
    assert tuned.config.gate_kinds == 2
    before, after = load_generator(base)[0].state_dict(), tuned.state_dict()
    assert all(torch.equal(before[name], after[name]) for name in after if name in before)
    assert {name for name in after if name not in before} == {
        "kind_head.weight", "kind_head.bias", "kind_shares", "kind_mean", "kind_var"}
    kind_losses = [e["losses"]["kind"] for e in events(tmp_path / "fit") if e["event"] == "step"]
    assert len(kind_losses) == 3 and all(loss > 0 for loss in kind_losses)


def test_gate_only_without_a_gated_starting_model_is_refused(photo_folder: Path, tmp_path: Path, capsys) -> None:
    assert train(photo_folder, tmp_path / "fit", "--steps", "2", "--gate", "--gate-only") == EXIT_INPUT
    assert "--gate-only fits the gate of a trained model" in capsys.readouterr().err


def test_existing_run_is_not_overwritten_without_resume(photo_folder: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    assert train(photo_folder, out, "--steps", "1") == 0
    before = (out / "last.safetensors").read_bytes()
    assert train(photo_folder, out, "--steps", "1") == 2
    assert "--resume" in capsys.readouterr().err
    assert (out / "last.safetensors").read_bytes() == before


def test_resume_from_another_working_directory_with_a_relative_path(
    photo_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "run"
    assert train(photo_folder, out, "--steps", "1") == 0
    monkeypatch.chdir(photo_folder.parent)
    assert train(Path(photo_folder.name), out, "--steps", "2", "--resume") == 0
    assert read_checkpoint(out / "last.safetensors")[1]["training_state"]["run"]["step"] == 2


def test_resume_with_different_settings_is_refused(photo_folder: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    assert train(photo_folder, out, "--steps", "1") == 0
    assert train(photo_folder, out, "--steps", "2", "--resume", "--seed", "5") == 2
    assert "seed" in capsys.readouterr().err


def test_bad_data_and_settings_are_explained(tmp_path: Path, capsys) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    assert train(empty, tmp_path / "run", "--steps", "1") == 2
    assert str(empty) in capsys.readouterr().err
    assert train(tmp_path / "missing", tmp_path / "run", "--steps", "1") == 2
    assert program.main(["train", "--data", str(empty), "--out", str(tmp_path / "r"), "--steps", "0"]) == 2


def test_full_disk_is_reported_and_the_last_good_checkpoint_survives(
    photo_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    out = tmp_path / "run"
    assert train(photo_folder, out, "--steps", "2") == 0
    good = (out / "last.safetensors").read_bytes()

    def full_disk(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    assert train(photo_folder, out, "--steps", "4", "--resume") == 1
    err = capsys.readouterr().err
    assert "disk is full" in err and "intact" in err
    assert (out / "last.safetensors").read_bytes() == good
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


def test_two_process_gloo_run_keeps_replicas_identical_and_writes_once(photo_folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(ROOT / "main.py"),
        "train", "--data", str(photo_folder), "--out", str(out), *TINY_RUN, "--batch-size", "2", "--steps", "3",
        "--progress", "json",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, "\n".join(l for l in (result.stdout + result.stderr).splitlines() if not l.startswith("{"))[-6000:]
    log = events(out)
    assert [e["event"] for e in log].count("start") == 1
    start = next(e for e in log if e["event"] == "start")
    assert start["world_size"] == 2
    done = next(e for e in log if e["event"] == "done")
    assert done["replicas_identical"] is True
    assert sorted(p.name for p in out.glob("*.safetensors")) == ["best.safetensors", "last.safetensors"]
