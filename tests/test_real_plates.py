"""Reads of the real small plates are cached per run: an unchanged rebuild reads no plate again."""

from __future__ import annotations

import shutil

import pandas as pd

from lpsr.evaluation.evaluate import load_model
from lpsr.study.chapters.beyond import read_before_and_after


class _CountingReader:
    """A stand-in OCR that reads every plate as 京PL3N67 and counts the plates it was given."""

    model_name = "counting"

    def __init__(self):
        self.plates = 0

    def read(self, images):
        images = list(images)
        self.plates += len(images)
        return [("京PL3N67", 0.25) for _ in images]


def test_reads_are_cached_in_the_run_folder_and_reused(shared_data, tmp_path):
    crops = tmp_path / "crops"
    crops.mkdir()
    for source in sorted((shared_data / "plates-94x24").iterdir())[:3]:
        shutil.copy(source, crops / source.name)
    run = tmp_path / "run"
    run.mkdir()
    models, reader = {"bicubic": load_model("bicubic")[0]}, _CountingReader()
    first = read_before_and_after(crops, models, reader, progress=False, runs={"bicubic": run})
    assert reader.plates == 6  # three crops as they are, three after bicubic
    assert len(list((run / "real_reads").glob("*.csv"))) == 1
    again = read_before_and_after(crops, models, reader, progress=False, runs={"bicubic": run})
    assert reader.plates == 6  # nothing read again
    pd.testing.assert_frame_equal(first, again)
    assert again["exact"].tolist() == [int(name.startswith("京PL3N67")) for name in again["file"]]
    (crops / sorted(p.name for p in crops.iterdir())[0]).unlink()  # another set of crops: read again
    read_before_and_after(crops, models, reader, progress=False, runs={"bicubic": run})
    assert reader.plates == 10
