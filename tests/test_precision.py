import json
import os
import pickle
import warnings

import pytest
import torch
from torch import nn

import lpsr.precision as precision
from lpsr.config import load_config
from lpsr.precision import CompiledOrEager, resolve_bf16, resolve_compile


@pytest.fixture
def cpu_with(monkeypatch):
    """Pretend to run on a CPU with these /proc/cpuinfo flags and this torch CPU capability."""

    def pretend(flags: set[str], capability: str) -> None:
        monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset(flags))
        monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: capability)

    return pretend


def test_auto_bf16_follows_the_cpu(cpu_with):
    cpu_with({"avx2", "avx512f", "avx512_bf16"}, "AVX512")
    assert resolve_bf16("auto", "cpu")[0] is True
    cpu_with({"avx2", "amx_bf16", "amx_tile"}, "AVX512")
    assert resolve_bf16("auto", "cpu")[0] is True
    cpu_with({"avx2", "fma"}, "AVX2")
    on, why = resolve_bf16("auto", "cpu")
    assert on is False and "emulated" in why
    cpu_with({"avx512_bf16"}, "AVX2")  # ATEN_CPU_CAPABILITY=avx2 on a bf16 CPU
    assert resolve_bf16("auto", "cpu")[0] is False
    assert resolve_bf16(True, "cpu")[0] is True and "slower" in resolve_bf16(True, "cpu")[1]
    assert resolve_bf16(False, "cpu") == (False, "set false")
    with pytest.raises(ValueError, match="train.bf16 must be auto, true or false"):
        resolve_bf16("yes", "cpu")


def test_auto_bf16_is_fp32_on_a_gpu(monkeypatch):
    """Asked of no GPU in particular: the answer does not depend on one (lpsr.precision)."""
    on, why = resolve_bf16("auto", "cuda")
    assert on is False and "kernel launches" in why
    monkeypatch.setattr(precision, "native_bf16", lambda device: (True, "a GPU that computes bf16"))
    assert resolve_bf16(True, "cuda") == (True, "set true")


def test_compile_is_off_unless_set():
    assert load_config("cpu").train.compile is False and resolve_compile(False)[0] is False
    assert resolve_compile(True) == (True, "set true")
    with pytest.raises(ValueError, match="train.compile must be true or false"):
        load_config("cpu", overrides=["train.compile=auto"])


def test_run_id_keys_on_the_resolved_precision(cpu_with):
    auto, fp32, bf16 = (load_config("cpu", overrides=[f"train.bf16={v}"]) for v in ("auto", "false", "true"))
    cpu_with({"avx2"}, "AVX2")
    assert auto.run_id("data") == fp32.run_id("data")  # same numbers, same run
    cpu_with({"avx512_bf16"}, "AVX512")
    assert auto.run_id("data") == bf16.run_id("data") != fp32.run_id("data")
    assert load_config("smoke").train.bf16 is False  # CI stays fp32 everywhere
    with pytest.raises(ValueError, match="train.bf16 must be auto, true or false"):
        load_config("cpu", overrides=["train.bf16=maybe"])


def test_a_compile_failure_falls_back_to_eager(monkeypatch):
    def broken(model, **kwargs):
        def call(*args):
            raise RuntimeError("InvalidCxxCompiler: No working C++ compiler found\nmore detail")

        return call

    monkeypatch.setattr(torch, "compile", broken)
    model = nn.Linear(3, 2)
    wrapped = CompiledOrEager(model)
    x = torch.randn(4, 3)
    with pytest.warns(
        RuntimeWarning, match="torch.compile failed, training eager instead .*No working C\\+\\+ compiler found\\)$"
    ):
        y = wrapped(x)
    assert torch.equal(y, model(x)) and "more detail" not in wrapped.failure
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # warned once only
        assert torch.equal(wrapped(x), model(x))
    assert list(wrapped.state_dict()) == ["model.weight", "model.bias"]


def test_env_json_records_the_resolved_precision(tmp_path, synthetic_root):
    from lpsr.training.train import train

    run_dir = train(
        load_config("smoke", overrides=["train.iterations=2", "train.val_every=2"]), tmp_path, progress=False
    )
    record = json.loads((run_dir / "env.json").read_text())["precision"]
    assert record["bf16"] is False and record["bf16_setting"] is False and record["bf16_reason"] == "set false"
    assert record["compile"] is False and record["compile_setting"] is False and record["cpu_capability"]


def test_avx2_kernels_train_in_a_child_process_with_an_encoder_of_their_own(tmp_path, synthetic_root):
    """train.cpu_kernels=avx2 trains as an AVX2-only CPU would: in a child process whose torch runs
    AVX2 kernels (env.json says so), with a plates encoder pretrained there, in a folder of its own."""
    from lpsr.training.encoder_pretraining import plate_encoder_path
    from lpsr.training.train import train

    settings = ["loss.name=pecl", "train.iterations=2", "train.val_every=2"]
    native, avx2 = (load_config("smoke", overrides=settings + [f"train.cpu_kernels={k}"]) for k in ("native", "avx2"))
    assert native.run_id("data") == load_config("smoke", overrides=settings).run_id("data") != avx2.run_id("data")
    environ = dict(os.environ)
    run_dir = train(avx2, tmp_path, progress=False)
    assert dict(os.environ) == environ  # the child's kernels were set for the child only
    record = json.loads((run_dir / "env.json").read_text())["precision"]
    assert record["cpu_kernels_setting"] == "avx2" and record["cpu_capability"] == "AVX2"
    encoder = plate_encoder_path(synthetic_root, kernels="avx2", iterations=10, seed=0)
    assert encoder.name.endswith("-avx2") and encoder != plate_encoder_path(synthetic_root, iterations=10, seed=0)
    assert json.loads((encoder / "done.json").read_text())["cpu_capability"] == "AVX2"  # pretrained in the child
    assert train(avx2, tmp_path, progress=False) == run_dir  # found again, not trained again
    with pytest.raises(ValueError, match="train.cpu_kernels must be one of native, avx2"):
        load_config("smoke", overrides=["train.cpu_kernels=avx512"])


def test_a_stop_by_signal_is_raised_again_across_processes(tmp_path):
    from lpsr.training.train import TrainingStopped

    stopped = pickle.loads(pickle.dumps(TrainingStopped(15, 7, tmp_path)))
    assert stopped.exit_code == 143 and "SIGTERM at iteration 7" in str(stopped) and stopped.run_dir == tmp_path
