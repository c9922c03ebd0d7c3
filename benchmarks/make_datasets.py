"""Two non-MNIST data sets anyone can rebuild from packages edgenets already installs (no download).

    .venv/bin/python benchmarks/make_datasets.py --out runs/datasets

* ``digits8x8.npz`` -- scikit-learn's bundled 8x8 handwritten digits (``sklearn.datasets.load_digits``:
  1,797 grey images, 10 classes, pixel values 0..16 scaled to 0..255 with ``round(v * 255 / 16)``), split
  80/20 into train and test, stratified, seed 0 (``sklearn.model_selection.train_test_split``).
* ``photo-shapes/`` -- a colour image folder (``train/<class>/*.png``, ``test/<class>/*.png``) of 64x64 RGB
  images, 4 classes (circle, square, triangle, cross). Each image is a random crop (random position,
  random horizontal flip) of one of the two colour photographs that ship with scikit-learn
  (``sklearn.datasets.load_sample_images``: china.jpg and flower.jpg, 427x640), with one filled shape of
  that class drawn on it by Pillow: random size (35-70 % of the side), centre, rotation and RGB colour.
  Image ``i`` of a split is a pure function of (split seed, i), so the set is identical on every machine
  with the same scikit-learn photographs and Pillow's drawing.

Both are written atomically per file; an existing output is left as is (delete it to rebuild).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SHAPES = ("circle", "square", "triangle", "cross")
SEEDS = {"train": 1, "test": 2}


def make_digits(path: Path) -> Path:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    from edgenets._io import atomic_path

    d = load_digits()
    x = np.round(d.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
    y = d.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.2, stratify=y, random_state=0)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, x_train=x_tr, y_train=y_tr, x_test=x_te, y_test=y_te,
                                class_names=np.array([str(c) for c in range(10)]))
    return path


def _polygon(shape: str, cx: float, cy: float, r: float, angle: float) -> list[tuple[float, float]]:
    def rot(points):
        c, s = math.cos(angle), math.sin(angle)
        return [(cx + px * c - py * s, cy + px * s + py * c) for px, py in points]

    if shape == "square":
        h = r / math.sqrt(2) * 1.2
        return rot([(-h, -h), (h, -h), (h, h), (-h, h)])
    if shape == "triangle":
        return rot([(r * math.cos(a), r * math.sin(a)) for a in (-math.pi / 2, math.pi / 6, 5 * math.pi / 6)])
    if shape == "cross":
        a, b = r, r * 0.35
        return rot([(-b, -a), (b, -a), (b, -b), (a, -b), (a, b), (b, b), (b, a), (-b, a), (-b, b), (-a, b), (-a, -b), (-b, -b)])
    raise ValueError(shape)


def shape_image(photos: list[np.ndarray], label: int, rng: np.random.Generator, side: int):
    from PIL import Image, ImageDraw

    photo = photos[int(rng.integers(len(photos)))]
    h, w = photo.shape[:2]
    crop = int(rng.integers(side, min(h, w) // 2 + 1))  # a crop of `crop` px, resized to `side`
    y0, x0 = int(rng.integers(h - crop + 1)), int(rng.integers(w - crop + 1))
    patch = photo[y0:y0 + crop, x0:x0 + crop]
    if rng.random() < 0.5:
        patch = patch[:, ::-1]
    im = Image.fromarray(np.ascontiguousarray(patch)).resize((side, side), Image.BILINEAR)
    draw = ImageDraw.Draw(im)
    r = side * rng.uniform(0.35, 0.70) / 2
    cx, cy = rng.uniform(r, side - r), rng.uniform(r, side - r)
    colour = tuple(int(v) for v in rng.integers(0, 256, size=3))
    shape = SHAPES[label]
    if shape == "circle":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=colour)
    else:
        draw.polygon(_polygon(shape, cx, cy, r, rng.uniform(0, 2 * math.pi)), fill=colour)
    return im


def make_shapes(folder: Path, *, train: int, test: int, side: int) -> Path:
    from sklearn.datasets import load_sample_images

    from edgenets._io import atomic_path

    photos = list(load_sample_images().images)
    for split, count in (("train", train), ("test", test)):
        for i in range(count):
            label = i % len(SHAPES)
            path = folder / split / SHAPES[label] / f"{i:05d}.png"
            if path.is_file():
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            rng = np.random.default_rng([SEEDS[split], i])
            with atomic_path(path) as tmp:
                shape_image(photos, label, rng, side).save(tmp, format="PNG")
    return folder


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=REPO / "runs" / "datasets")
    ap.add_argument("--train", type=int, default=2400, help="photo-shapes training images (default 2400)")
    ap.add_argument("--test", type=int, default=800, help="photo-shapes test images (default 800)")
    ap.add_argument("--side", type=int, default=64, help="photo-shapes image side in pixels (default 64)")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    digits = args.out / "digits8x8.npz"
    if not digits.is_file():
        make_digits(digits)
    print(f"wrote {digits}")
    shapes = make_shapes(args.out / "photo-shapes", train=args.train, test=args.test, side=args.side)
    print(f"wrote {shapes} ({args.train} train + {args.test} test images, {args.side}x{args.side} RGB, {len(SHAPES)} classes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
