"""Two CPU replicas under torchrun (gloo) end with identical weights."""

import json
import os
import subprocess
import sys


def test_two_gloo_replicas_stay_identical(tmp_path, synthetic_root):
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "lpsr.cli",
        "train",
        "--profile",
        "smoke",
        "--iterations",
        "4",
        "--set",
        "train.val_every=2",
        "--set",
        "train.threads=1",
        "--runs",
        str(tmp_path),
        "--quiet",
    ]
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=600, env=os.environ | {"OMP_NUM_THREADS": "1"}
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (done,) = tmp_path.glob("lpsr-mse-*/done.json")
    summary = json.loads(done.read_text())
    assert summary["world_size"] == 2 and summary["replicas_identical"] is True
    assert summary["iterations"] == 4
