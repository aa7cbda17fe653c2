"""Sharing one machine: the cores a process may use, the threads a training takes beside others,
and the lock that keeps two processes off one run folder."""

import os
import subprocess
import sys
import textwrap

import pytest

from lpsr.training.sharing import MachineShare, RunLock, RunLockedError, cgroup_cpu_quota, usable_cores


def test_the_cgroup_quota_is_read_from_v2_and_v1_files(tmp_path):
    v2 = tmp_path / "v2"
    v2.mkdir()
    (v2 / "cpu.max").write_text("150000 100000\n")
    assert cgroup_cpu_quota(v2) == 1.5
    assert usable_cores(v2) == 1  # 1.5 CPUs of quota: one thread
    (v2 / "cpu.max").write_text("max 100000\n")
    assert cgroup_cpu_quota(v2) is None
    v1 = tmp_path / "v1"
    (v1 / "cpu").mkdir(parents=True)
    (v1 / "cpu" / "cpu.cfs_quota_us").write_text("300000\n")
    (v1 / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert cgroup_cpu_quota(v1) == 3.0
    (v1 / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")
    assert cgroup_cpu_quota(v1) is None
    assert cgroup_cpu_quota(tmp_path / "none") is None


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="no CPU affinity on this platform")
def test_the_usable_cores_follow_a_restricted_affinity(tmp_path):
    code = textwrap.dedent(
        f"""
        import os
        os.sched_setaffinity(0, {{sorted(os.sched_getaffinity(0))[0]}})
        from pathlib import Path
        from lpsr.training.sharing import usable_cores
        print(usable_cores(Path({str(tmp_path / "no-cgroup")!r})))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "1"


def test_a_training_takes_its_share_of_the_cores_and_follows_the_others(tmp_path):
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        with MachineShare(0, tmp_path, cores=4) as share:
            assert share.threads() == 4  # alone: every usable core
            (tmp_path / str(sleeper.pid)).write_text("host")
            assert share.threads() == 2  # beside one other live training
            sleeper.kill()
            sleeper.wait()
            assert share.threads() == 4  # the other ended: its entry is dropped
            assert not (tmp_path / str(sleeper.pid)).exists()
            assert MachineShare(3, tmp_path, cores=4).threads() == 3  # a fixed count stays
        assert not list(tmp_path.iterdir())
    finally:
        sleeper.kill()


def test_a_second_process_on_one_run_is_refused_and_a_dead_ones_lock_is_taken_over(tmp_path, capsys):
    run = tmp_path / "lpsr-mse-0123456789"
    run.mkdir()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import time\nfrom lpsr.training.sharing import RunLock\nwith RunLock({str(run)!r}):\n"
            "    print('locked', flush=True)\n    time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(
            RunLockedError, match=rf"{run.name} is being trained by another process \(pid and host: {holder.pid} "
        ):
            with RunLock(run):
                pass
        holder.kill()
        holder.wait()
        with RunLock(run):  # the holder died with its lock written: taken over, with a note
            assert (run / "train.lock").read_text().split()[0] == str(os.getpid())
        assert f"took over the lock of a process that no longer runs ({holder.pid} " in capsys.readouterr().err
        with RunLock(run):  # released cleanly: no note
            pass
        assert capsys.readouterr().err == ""
    finally:
        holder.kill()
