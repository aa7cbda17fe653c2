import json
import os
import signal

import numpy as np
import pytest
import torch
from PIL import Image

from lpsr.cli import main
from lpsr.config import load_config, parse_override
from lpsr.files import load_checkpoint
from lpsr.study.experiments import method_config
from lpsr.training.runs import diverged_at, read_log, run_summary
from lpsr.training.train import TrainingError, TrainingStopped, train


def test_smoke_run_writes_its_folder(smoke_run):
    run_dir, _ = smoke_run
    for name in ("config.yaml", "env.json", "log.jsonl", "last.pt", "best.pt", "done.json"):
        assert (run_dir / name).is_file(), name
    steps, vals = read_log(run_dir)
    assert [s["iteration"] for s in steps] == list(range(1, 21))
    assert [v["iteration"] for v in vals] == [10, 20]
    assert run_dir.name.startswith("lpsr-mse-")
    assert all(np.isfinite(s["loss"]) and s["lr"] > 0 and s["samples_per_s"] > 0 for s in steps)
    env = json.loads((run_dir / "env.json").read_text())
    assert env["seed"] == 0 and env["torch"] == torch.__version__ and env["parameters"] == 2_119_375
    best = load_checkpoint(run_dir / "best.pt")
    assert best["iteration"] in (10, 20) and best["model_config"]["name"] == "lpsr"


def test_a_finished_run_is_returned_without_training(smoke_run):
    run_dir, runs = smoke_run
    stamp = (run_dir / "done.json").stat().st_mtime_ns
    assert train(load_config("smoke"), runs, progress=False) == run_dir
    assert (run_dir / "done.json").stat().st_mtime_ns == stamp


def test_a_run_another_live_process_trains_is_refused_and_left_intact(smoke_run):
    import subprocess
    import sys

    from lpsr.training.sharing import RunLockedError

    run_dir, runs = smoke_run
    done = run_dir / "done.json"
    kept = done.read_bytes()
    done.unlink()  # as if unfinished: a second command would train it
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import time\nfrom lpsr.training.sharing import RunLock\nwith RunLock({str(run_dir)!r}):\n    print('locked', flush=True)\n    time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        last = (run_dir / "last.pt").read_bytes()
        with pytest.raises(RunLockedError, match=f"pid and host: {holder.pid} "):
            train(load_config("smoke"), runs, progress=False)
        assert (run_dir / "last.pt").read_bytes() == last
    finally:
        holder.kill()
        holder.wait()
        done.write_bytes(kept)


@pytest.mark.parametrize("method", [None, "esrgan"])  # ESRGAN: the GAN phase (its discriminator) starts at 3
def test_training_is_deterministic_and_resumes(tmp_path, synthetic_root, monkeypatch, method):
    """3 iterations, SIGTERM, resume for 3 more == 6 straight (same weights)."""
    import lpsr.training.train as train_module

    overrides = ["train.iterations=6", "train.val_every=3", "train.lr=1e-3"]
    if method == "esrgan":  # 2 of its 23 RRDB blocks: the same GAN phases and checkpoints, a fifth of the time
        overrides.append("model.options={blocks: 2}")
    config = method_config(method, "smoke", overrides=overrides)
    straight = train(config, tmp_path / "a", progress=False)
    lrs = [s["lr"] for s in read_log(straight)[0]]
    if method == "esrgan":  # the GAN phase trains the generator at ESRGAN's own lr
        assert max(lrs[:3]) > config.loss.gan_lr and max(lrs[3:]) <= config.loss.gan_lr
        assert run_summary(straight)["best"]["iteration"] == 6  # selected in the GAN phase
    real_validate, sent = train_module.validate, []

    def validate_then_terminate(*args, **kwargs):
        if not sent:
            sent.append(os.kill(os.getpid(), signal.SIGTERM))
        return real_validate(*args, **kwargs)

    original = signal.getsignal(signal.SIGTERM)
    monkeypatch.setattr(train_module, "validate", validate_then_terminate)
    with pytest.raises(TrainingStopped, match="stopped by SIGTERM at iteration 3") as stopped:
        train(config, tmp_path / "b", progress=False)
    assert stopped.value.exit_code == 143 and signal.getsignal(signal.SIGTERM) == original
    (partial,) = (tmp_path / "b").iterdir()
    assert not (partial / "done.json").exists()
    assert load_checkpoint(partial / "last.pt")["iteration"] == 3
    resumed = train(config, tmp_path / "b", progress=False)
    a, b = load_checkpoint(straight / "last.pt"), load_checkpoint(resumed / "last.pt")
    assert a["iteration"] == b["iteration"] == 6
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    for key in a["loss"]:
        if isinstance(a["loss"][key], torch.Tensor):
            assert torch.equal(a["loss"][key], b["loss"][key]), key
    assert [s["iteration"] for s in read_log(resumed)[0]] == list(range(1, 7))


def test_a_wsd_run_branches_from_a_shorter_runs_stable_phase(tmp_path, synthetic_root):
    """A 16-iteration wsd run started from the stable phase of an 8-iteration one (its decay starts
    at 6) ends with the weights, losses and validations of the 16-iteration run trained straight; a
    shorter run with another lr is not taken for a branch."""
    settings = ["train.schedule=wsd", "train.val_every=4", "train.lr=1e-3"]
    runs = tmp_path / "branched"
    short = train(load_config("smoke", overrides=[*settings, "train.iterations=8"]), runs, progress=False)
    other = train(
        load_config("smoke", overrides=[*settings, "train.iterations=8", "train.lr=2e-3"]), runs, progress=False
    )
    assert load_checkpoint(short / "stable.pt")["iteration"] == 6
    config = load_config("smoke", overrides=[*settings, "train.iterations=16"])
    branched = train(config, runs, progress=False, branch_from=[other, short])
    straight = train(config, tmp_path / "straight", progress=False)
    summary = run_summary(branched)
    assert summary["branched_from"] == {"source": short.name, "iteration": 6} and summary["resumed_from"] == 6
    assert summary["best"] == run_summary(straight)["best"]
    a, b = load_checkpoint(straight / "last.pt"), load_checkpoint(branched / "last.pt")
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    (steps_a, vals_a), (steps_b, vals_b) = read_log(straight), read_log(branched)
    assert [(s["iteration"], s["loss"], s["lr"]) for s in steps_a] == [
        (s["iteration"], s["loss"], s["lr"]) for s in steps_b
    ]
    assert vals_a == vals_b and [v["iteration"] for v in vals_b] == [4, 8, 12, 16]
    lrs = [s["lr"] for s in steps_a]  # wsd: the lr held for the 13 iterations before the decay, then falling
    assert lrs[:14] == [1e-3] * 14 and all(x > y for x, y in zip(lrs[13:], lrs[14:]))


def test_non_finite_loss_stops_with_a_message(tmp_path, synthetic_root, monkeypatch):
    import lpsr.losses.pecl as losses_module

    monkeypatch.setattr(losses_module.F, "mse_loss", lambda *a, **k: torch.tensor(float("nan"), requires_grad=True))
    with pytest.raises(TrainingError, match="loss diverged at iteration 1: nan, non-finite"):
        train(load_config("smoke"), tmp_path, progress=False)


def test_grad_clip_bounds_the_step_and_logs_the_norm_before_it(tmp_path, synthetic_root, monkeypatch):
    real_step, norms = torch.optim.Adam.step, []

    def step(self, *args, **kwargs):
        grads = [p.grad for group in self.param_groups for p in group["params"] if p.grad is not None]
        norms.append(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads])).item())
        return real_step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.Adam, "step", step)
    config = load_config("smoke", overrides=["train.iterations=4", "train.grad_clip=1e-3"])
    assert config.run_id() != load_config("smoke", overrides=["train.iterations=4"]).run_id()
    assert load_config("smoke", overrides=["train.grad_clip=0"]).run_id() == load_config("smoke").run_id()
    steps, _ = read_log(train(config, tmp_path, progress=False))
    assert len(norms) == 4 and max(norms) <= 1e-3 * 1.0001  # every step takes the clipped gradient
    assert all(s["grad_norm"] > 1e-3 for s in steps)  # the log keeps the norm before clipping


def test_exploding_loss_stops_as_divergence(tmp_path, synthetic_root, monkeypatch):
    import lpsr.losses.pecl as losses_module

    real_mse, calls = losses_module.F.mse_loss, []

    def exploding(*args, **kwargs):
        calls.append(1)
        return real_mse(*args, **kwargs) * (1e6 if len(calls) == 5 else 1)

    monkeypatch.setattr(losses_module.F, "mse_loss", exploding)
    config = load_config("smoke", overrides=["train.val_early=false", "train.val_every=5"])
    with pytest.raises(
        TrainingError, match=r"loss diverged at iteration 5: .*, over 10000 times its lowest running mean"
    ):
        train(config, tmp_path, progress=False)  # before any validation: nothing to keep as a result
    calls.clear()
    monkeypatch.setattr(
        losses_module.F,
        "mse_loss",
        lambda *a, **k: real_mse(*a, **k) * (1e6 if len(calls.append(1) or calls) == 8 else 1),
    )
    run = train(
        load_config("smoke", overrides=["train.val_early=false", "train.val_every=5", "train.seed=1"]),
        tmp_path,
        progress=False,
    )
    done = run_summary(run)  # after a validation: the run ends as a result
    assert (
        done["diverged"]["iteration"] == diverged_at(run) == 8
        and done["iterations"] == 7
        and done["best"]["iteration"] == 5
    )
    assert (run / "best.pt").is_file()
    with pytest.raises(SystemExit):
        main(
            [
                "train",
                "--profile",
                "smoke",
                "--runs",
                str(tmp_path),
                "--set",
                "train.val_early=false",
                "--set",
                "train.val_every=5",
                "--set",
                "train.seed=1",
                "--quiet",
            ]
        )


def test_overrides_and_profiles():
    assert parse_override("train.iterations=5") == {"train": {"iterations": 5}}
    assert load_config("smoke", overrides=["train.lr=2e-4"]).train.lr == 2e-4  # YAML reads 2e-4 as text
    config = load_config("paper", overrides=["train.iterations=5", "model.options={blocks: 4}"])
    assert config.train.batch_size == 128 and config.train.iterations == 5
    assert config.model.options == {"blocks": 4}
    with pytest.raises(ValueError, match="train.lr must be a number"):
        load_config("smoke", overrides=["train.lr=fast"])
    with pytest.raises(KeyError, match="unknown setting train.nope"):
        load_config("smoke", overrides=["train.nope=1"])


def test_eval_and_upscale_commands(smoke_run, tmp_path, synthetic_root, capsys):
    run_dir, _ = smoke_run
    main(["eval", "--synthetic-frames", "120", "--model", str(run_dir), "--out", str(tmp_path / "eval")])
    summary = json.loads((tmp_path / "eval" / "summary.json").read_text())
    assert summary["n"] > 0 and np.isfinite(summary["psnr_y_median"]) and summary["protocol"]["scale"] == 8
    rows = (tmp_path / "eval" / "per_plate.csv").read_text(encoding="utf-8").splitlines()
    assert rows[0].startswith("file,plate,width,height,psnr,psnr_y,ssim") and len(rows) == summary["n"] + 1

    folder = tmp_path / "in"
    folder.mkdir()
    Image.fromarray(np.full((12, 40), 128, np.uint8)).save(folder / "grey.png")
    Image.fromarray(np.full((12, 40, 4), 200, np.uint8)).save(folder / "rgba.png")
    Image.fromarray(np.full((12, 40), 40000, np.uint16)).save(folder / "deep.png")
    (folder / "broken.jpg").write_bytes(b"not an image")
    with pytest.raises(SystemExit):
        main(["upscale", str(folder), str(tmp_path / "out"), "--model", str(run_dir / "best.pt")])
    err = capsys.readouterr().err
    assert "lpsr upscale: error: " in err and "broken.jpg: cannot read as an image" in err
    for name in ("grey", "rgba", "deep"):
        assert Image.open(tmp_path / "out" / f"{name}.png").size == (320, 96)


def test_cli_reports_bad_input_in_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["eval", "--data", str(tmp_path / "missing"), "--model", "bicubic", "--out", str(tmp_path)])
    assert exit_info.value.code == 2
    assert "does not exist" in capsys.readouterr().err


def test_pecl_run_logs_its_terms_and_keeps_checkpoints_small(tmp_path, synthetic_root):
    config = load_config(
        "smoke",
        overrides=[
            "train.iterations=4",
            "train.val_every=2",
            "loss.name=pecl",
            "loss.weighting=paper",
            "loss.reading=paper",
        ],
    )
    run_dir = train(config, tmp_path, progress=False)
    assert run_dir.name.startswith("lpsr-pecl-")
    steps, _ = read_log(run_dir)
    assert all({"mse", "contrastive", "distance", "w_pixel", "w_contrastive"} <= set(s) for s in steps)
    assert all(0 <= s["w_pixel"] <= 1 and s["w_pixel"] + s["w_contrastive"] == pytest.approx(1) for s in steps)
    state = load_checkpoint(run_dir / "last.pt")
    assert "weights.w" in state["loss"] and not any(k.startswith("encoder.") for k in state["loss"])
    env = json.loads((run_dir / "env.json").read_text())
    assert env["encoder"]["init"] == "plates" and env["encoder"]["sha256"]


def test_run_ids_hash_only_the_settings_that_differ_from_their_defaults():
    from lpsr.config import RunConfig

    smoke = load_config("smoke")
    at_defaults = ["train.grad_clip=0", "loss.gan_select=gan", "train.schedule=cosine", "train.decay=0.2"]
    assert load_config("smoke", overrides=at_defaults).run_id("d") == smoke.run_id("d")
    assert load_config("smoke", overrides=["train.decay=0.3"]).run_id("d") != smoke.run_id("d")
    assert smoke.run_id("d") != smoke.run_id("e")  # and the data
    bare = RunConfig()  # every setting at its default: only the resolved precision and the data enter
    bare.train.bf16 = bare.resolved_precision()["bf16"]
    assert bare.run_id("d") == RunConfig().run_id("d")


def test_a_run_made_under_the_earlier_run_id_rule_is_renamed_and_found_finished(smoke_run, tmp_path):
    import shutil

    from lpsr.training.runs import run_dir_for
    from lpsr.training.train import prepare_data

    run_dir, _ = smoke_run
    config = load_config("smoke")
    _, _, fingerprint = prepare_data(config, progress=False)
    legacy = run_dir_for(config, tmp_path, fingerprint, legacy=True)
    assert legacy.name != run_dir.name  # the rule changed the id
    shutil.copytree(run_dir, legacy)
    done = (legacy / "done.json").read_bytes()
    found = train(config, tmp_path, progress=False)
    assert found.name == run_dir.name and not legacy.exists()  # renamed, not retrained
    assert (found / "done.json").read_bytes() == done
