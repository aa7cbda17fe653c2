"""Synthetic CCPD frames (`lpsr.data.synthetic`) and the CJK font (`lpsr.data.fonts`)."""

import warnings

import cv2
import matplotlib
import numpy as np
import pytest
from matplotlib import font_manager
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from lpsr.data.ccpd import ADS, ALPHABETS, PROVINCES, decode_plate, parse_ccpd_name
from lpsr.data.fonts import cjk_font_path, use_cjk_font
from lpsr.data.synthetic import _render_plate, write_synthetic_ccpd

N_FRAMES = 60
FRAME_SIZE = (480, 640)  # width, height
SPLITS = ("train", "val", "test")


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return write_synthetic_ccpd(tmp_path_factory.mktemp("synthetic"), n_frames=N_FRAMES, seed=0)


@pytest.fixture(scope="module")
def frames(root):
    """(path, annotation, RGB image) for every frame."""
    paths = sorted((root / "synthetic").glob("*.jpg"))
    return [(p, parse_ccpd_name(p), np.asarray(Image.open(p).convert("RGB"))) for p in paths]


def _split_lines(root, split):
    return (root / "splits" / f"{split}.txt").read_text().splitlines()


def _gray(rgb):
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)


def _ncc(a, b):
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()))


def _plate_coloured(rgb, green):
    """Pixels of the plate's background colour: saturated blue, or green, and not dark."""
    hue, saturation, value = np.moveaxis(cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV).astype(int), -1, 0)
    if green:
        return (35 <= hue) & (hue <= 85) & (saturation >= 40) & (value >= 70)
    return (95 <= hue) & (hue <= 130) & (saturation >= 80) & (value >= 70)


def test_names_parse_into_valid_distinct_plates(frames):
    assert len(frames) == N_FRAMES
    texts = [a.text for _, a, _ in frames]
    assert len(set(texts)) == N_FRAMES
    for _, annotation, _ in frames:
        text = decode_plate(annotation.indices)
        assert text[0] in PROVINCES[:-1] and text[1] in ALPHABETS[:-1]
        assert all(char in ADS[:-1] for char in text[2:])
        (x1, y1, x2, y2), xs, ys = annotation.bbox, *zip(*annotation.vertices)
        assert (x1, y1, x2, y2) == (min(xs), min(ys), max(xs), max(ys))


def test_green_plates_have_8_characters(frames):
    green = [a.text for _, a, _ in frames if a.green]
    assert 0.05 <= len(green) / N_FRAMES <= 0.3
    for text in green:
        assert len(text) == 8 and text[2] in "DF" and text[3:].isdigit()
    assert all(len(a.text) == 7 for _, a, _ in frames if not a.green)


def test_splits_cover_every_frame_once_and_texts_do_not_cross(root, frames):
    lines = {split: _split_lines(root, split) for split in SPLITS}
    listed = [line for split in SPLITS for line in lines[split]]
    assert sorted(listed) == sorted(f"synthetic/{p.name}" for p, _, _ in frames)
    for split, fraction in zip(SPLITS, (0.76, 0.08, 0.16)):
        assert abs(len(lines[split]) - fraction * N_FRAMES) <= 1
    texts = {split: {parse_ccpd_name(line).text for line in lines[split]} for split in SPLITS}
    assert not texts["train"] & texts["val"]
    assert not texts["train"] & texts["test"]
    assert not texts["val"] & texts["test"]


def test_vertices_lie_inside_the_frame(frames):
    width, height = FRAME_SIZE
    for _, annotation, image in frames:
        assert image.shape == (height, width, 3)
        for x, y in annotation.vertices:
            assert 0 <= x < width and 0 <= y < height


def test_bbox_and_vertices_frame_the_plate(frames):
    """The bbox crop is mostly plate-coloured; inside the vertices is plate, just outside is not."""
    ring = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (21, 21))
    gap = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (9, 9))
    for path, annotation, image in frames:
        plate = _plate_coloured(image, annotation.green)
        x1, y1, x2, y2 = annotation.bbox
        assert plate[y1 : y2 + 1, x1 : x2 + 1].mean() > 0.4, path.name
        polygon = np.zeros(plate.shape, np.uint8)
        cv2.fillPoly(polygon, [np.array(annotation.vertices)], 1)
        inside = cv2.erode(polygon, np.ones((5, 5), np.uint8)).astype(bool)
        outside = (cv2.dilate(polygon, ring) - cv2.dilate(polygon, gap)).astype(bool)
        assert plate[inside].mean() > 0.5, path.name
        assert plate[outside].mean() < 0.05, path.name


def _match(gray, vertices, template):
    """Normalised cross-correlation of `template` with the frame rectified at `vertices`."""
    height, width = template.shape
    corners = np.float32([[width, height], [0, height], [0, 0], [width, 0]]) - 0.5  # RB, LB, LT, RT
    transform = cv2.getPerspectiveTransform(np.float32(vertices), corners)
    return _ncc(cv2.warpPerspective(gray, transform, (width, height)), template)


@pytest.fixture(scope="module")
def templates(frames):
    """Every frame's plate drawn flat, in grey."""
    return {a.text: _gray(_render_plate(np.random.default_rng(0), a.text)) for _, a, _ in frames}


def _one_character_changed(text):
    """`text` with each character in turn replaced by the next one in its CCPD table."""
    tables = [PROVINCES[:-3], ALPHABETS[:-1]] + [ADS[:-1]] * (len(text) - 2)  # without 警 学 O
    for position, (char, table) in enumerate(zip(text, tables)):
        yield text[:position] + table[(table.index(char) + 1) % len(table)] + text[position + 1 :]


def test_name_holds_the_text_drawn_at_the_vertices(frames, templates):
    """Rectified at its vertices, each plate matches its name's text better than any text with one
    character changed: every character in the name is the one drawn."""
    for path, annotation, image in frames:
        gray = _gray(image)
        named = _match(gray, annotation.vertices, templates[annotation.text])
        for text in _one_character_changed(annotation.text):
            template = _gray(_render_plate(np.random.default_rng(0), text))
            assert named > _match(gray, annotation.vertices, template), (path.name, text)


def test_vertices_are_where_the_corners_land(frames, templates):
    """The named vertices align the plate better than the same vertices moved by 2 px."""
    for path, annotation, image in frames:
        gray, vertices = _gray(image), np.float32(annotation.vertices)
        template = templates[annotation.text]
        named = _match(gray, vertices, template)
        for shift in ([2, 0], [-2, 0], [0, 2], [0, -2]):
            assert named > _match(gray, vertices + shift, template), (path.name, shift)


def test_same_seed_same_bytes_other_seed_differs(tmp_path):
    first = write_synthetic_ccpd(tmp_path / "a", n_frames=10, seed=1)
    second = write_synthetic_ccpd(tmp_path / "b", n_frames=10, seed=1)
    other = write_synthetic_ccpd(tmp_path / "c", n_frames=10, seed=2)
    names = sorted(p.name for p in (first / "synthetic").glob("*.jpg"))
    assert names == sorted(p.name for p in (second / "synthetic").glob("*.jpg"))
    for name in names:
        assert (first / "synthetic" / name).read_bytes() == (second / "synthetic" / name).read_bytes()
    for split in SPLITS:
        assert _split_lines(first, split) == _split_lines(second, split)
    assert names != sorted(p.name for p in (other / "synthetic").glob("*.jpg"))


def test_complete_set_is_not_rewritten_and_other_arguments_replace_it(tmp_path):
    root = write_synthetic_ccpd(tmp_path, n_frames=10, seed=3)
    stamps = {p: p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}
    assert write_synthetic_ccpd(tmp_path, n_frames=10, seed=3) == tmp_path
    assert stamps == {p: p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}

    write_synthetic_ccpd(tmp_path, n_frames=12, seed=3)
    frames = sorted(f"synthetic/{p.name}" for p in (tmp_path / "synthetic").glob("*.jpg"))
    assert frames == sorted(line for split in SPLITS for line in _split_lines(tmp_path, split))
    assert len(frames) == 12


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"n_frames": 9}, "n_frames"),
        ({"split_fractions": (0.5, 0.3, 0.3)}, "split_fractions"),
        ({"split_fractions": (0.8, 0.2)}, "split_fractions"),
        ({"split_fractions": (1.2, -0.1, -0.1)}, "split_fractions"),
        ({"frame_size": (200, 100)}, "frame_size"),
    ],
)
def test_bad_arguments_raise(tmp_path, arguments, message):
    with pytest.raises(ValueError, match=message):
        write_synthetic_ccpd(tmp_path, **arguments)
    assert not (tmp_path / "synthetic").exists()


def test_cjk_font_path_exists():
    path = cjk_font_path()
    assert path.is_file() and path.name == "NotoSansCJKsc-Regular.otf"


def test_cjk_font_path_says_how_to_install(monkeypatch):
    monkeypatch.setattr("lpsr.data.fonts.importlib.util.find_spec", lambda name: None)
    with pytest.raises(FileNotFoundError, match="pip install mplfonts==0.0.11"):
        cjk_font_path()


def _missing_glyph_warnings(text):
    figure = Figure()
    FigureCanvasAgg(figure)
    figure.text(0.5, 0.5, text)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        figure.canvas.draw()
    return [w for w in caught if "missing from font" in str(w.message)]


def test_use_cjk_font_renders_plate_text():
    with matplotlib.rc_context({"font.family": ["sans-serif"], "font.sans-serif": ["DejaVu Sans"]}):
        assert _missing_glyph_warnings("皖A12345")  # the check can fail
    with matplotlib.rc_context():
        name = use_cjk_font()
        registered = len(font_manager.fontManager.ttflist)
        assert use_cjk_font() == name  # idempotent
        assert len(font_manager.fontManager.ttflist) == registered
        assert matplotlib.rcParams["font.sans-serif"][:2] == [name, "DejaVu Sans"]
        assert matplotlib.rcParams["font.sans-serif"].count(name) == 1
        assert not matplotlib.rcParams["axes.unicode_minus"]
        assert not _missing_glyph_warnings("皖A12345 -1")
