"""Time to target test accuracy (MLPerf-training style): the reference fit vs the default recipe.

In one process on one machine, for the seed ``mobilenet``:

  (a) reference -- the study's plain ``model.fit(x, y, batch_size=32)``: Adam 1e-3, pixels/255,
      numpy arrays, no augmentation, no schedule (DESIGN.md: ~1,400 images/s here, 97.7 -> 98.6 %
      test accuracy over 6 epochs);
  (b) default   -- ``edgenets train --recipe default``'s pieces: the tf.data pipeline with online
      augmentation, AdamW with warmup + cosine over --max-epochs, BatchNorm momentum 0.9.

After every epoch the model is evaluated on the MNIST test set; a contestant stops when it
reaches --target. Reported per contestant: wall-clock seconds to the target (training +
per-epoch evaluation; model build excluded), epochs, training images/s and the final accuracy.
Both contestants train on the same images: all 60,000 MNIST training images (or a --limit
subset); no validation split is held out, since the target is measured on the test set.

    python benchmarks/train_speed.py --target 0.99 --also 0.985   # full: ~30 minutes on 2 cores
    python benchmarks/train_speed.py --limit 3000 --max-epochs 2 --target 0.9  # smoke run
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _data(limit, seed):
    from edgenets.data import load_dataset, stratified_indices

    d = load_dataset("mnist", quiet=True)
    x, y = d.x_train, d.y_train
    if limit:
        keep = stratified_indices(y, limit, seed)
        x, y = x[keep], y[keep]
    return x, y, d.x_test, d.y_test


def _race(name, model, fit_epoch, x_test, y_test, targets, max_epochs, n_train):
    """Train epoch by epoch until test accuracy >= the last target; time everything but the model build.

    Every target in ``targets`` (ascending) gets its own time-to-accuracy: the wall clock at the
    end of the first epoch whose test accuracy reaches it.
    """
    x_eval = x_test.astype("float32") / 255.0
    start, train_seconds, acc = time.perf_counter(), 0.0, 0.0
    reached, curve = {}, []
    for epoch in range(1, max_epochs + 1):
        t = time.perf_counter()
        fit_epoch(epoch)
        train_seconds += time.perf_counter() - t
        acc = float((model.predict(x_eval, batch_size=256, verbose=0).argmax(1) == y_test).mean())
        elapsed = time.perf_counter() - start
        curve.append({"epoch": epoch, "test_accuracy": acc, "seconds": round(elapsed, 1)})
        print(f"  {name}: epoch {epoch}  test accuracy {acc:.4f}  {elapsed:.1f} s", flush=True)
        for target in targets:
            if acc >= target and target not in reached:
                reached[target] = {"seconds": round(elapsed, 1), "epochs": epoch}
        if targets[-1] in reached:
            break
    return {"contestant": name, "reached": {f"{t:.4f}": reached.get(t) for t in targets}, "epochs": epoch,
            "final_accuracy": acc, "train_images_per_second": round(epoch * n_train / train_seconds, 1),
            "total_seconds": round(time.perf_counter() - start, 1), "curve": curve}


def reference(x, y, x_test, y_test, args):
    import keras

    from edgenets.models import create_model

    keras.utils.set_random_seed(args.seed)
    model = create_model("mobilenet")
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    xf = x.astype("float32") / 255.0

    def fit_epoch(epoch):
        model.fit(xf, y, batch_size=32, epochs=1, verbose=0)

    return _race("reference fit (batch 32)", model, fit_epoch, x_test, y_test, args.targets, args.max_epochs, len(x))


def default(x, y, x_test, y_test, args):
    import keras

    from edgenets.models import create_model
    from edgenets.train.pipeline import steps_per_epoch, train_dataset
    from edgenets.train.recipes import RECIPES, apply_to_model, build_optimizer

    recipe = RECIPES["default"]
    keras.utils.set_random_seed(args.seed)
    model = create_model("mobilenet")
    apply_to_model(recipe, model)
    steps = steps_per_epoch(len(x), recipe.batch_size)
    epochs = args.max_epochs if args.schedule_epochs is None else args.schedule_epochs
    model.compile(optimizer=build_optimizer(recipe, batch_size=recipe.batch_size, steps_per_epoch=steps, epochs=epochs),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])

    def fit_epoch(epoch):  # the same per-epoch batches edgenets train would build
        ds = train_dataset(x, y, batch_size=recipe.batch_size, seed=args.seed, augment=True,
                           initial_epoch=epoch - 1, epochs=epoch)
        model.fit(ds, epochs=epoch, initial_epoch=epoch - 1, steps_per_epoch=steps, verbose=0, shuffle=False)

    return _race(f"default recipe (batch {recipe.batch_size})", model, fit_epoch, x_test, y_test, args.targets,
                 args.max_epochs, len(x))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--target", type=float, default=0.99, help="test accuracy to reach, then stop (default 0.99)")
    p.add_argument("--also", type=float, action="append", default=[],
                   help="a lower accuracy to time on the way (repeatable), e.g. --also 0.985")
    p.add_argument("--max-epochs", type=int, default=8, help="give up after this many epochs (default 8)")
    p.add_argument("--schedule-epochs", type=int, default=None,
                   help="epochs the default recipe's cosine schedule spans (default: --max-epochs)")
    p.add_argument("--limit", type=int, default=None, help="train on N stratified images (default: all 60,000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--only", choices=["reference", "default"], default=None)
    p.add_argument("--json", default=None, help="also write the results here")
    args = p.parse_args(argv)
    for flag in ("max_epochs", "limit"):
        value = getattr(args, flag)
        if value is not None and value <= 0:
            p.error(f"--{flag.replace('_', '-')} must be > 0. Received: {value}")

    import tensorflow as tf
    from tabulate import tabulate

    x, y, x_test, y_test = _data(args.limit, args.seed)
    print(f"train images {len(x)}, test images {len(x_test)}, target {args.target}, max epochs {args.max_epochs}, "
          f"TF {tf.__version__}, {platform.processor() or platform.machine()}, {os.cpu_count()} cpus", flush=True)
    args.targets = sorted({*args.also, args.target})
    if not all(0 < t <= 1 for t in args.targets):
        p.error(f"--target/--also must be in (0, 1]. Received: {args.targets}")
    rows = [fn(x, y, x_test, y_test, args) for name, fn in (("reference", reference), ("default", default))
            if args.only in (None, name)]

    def cell(r, t):
        hit = r["reached"][f"{t:.4f}"]
        return f"{hit['seconds']} s ({hit['epochs']} ep)" if hit else f"not in {r['epochs']} ep"

    print(tabulate([[r["contestant"], *(cell(r, t) for t in args.targets), r["epochs"], f"{r['final_accuracy']:.4f}",
                     r["train_images_per_second"], r["total_seconds"]] for r in rows],
                   headers=["contestant", *(f"time to {t:.2%}" for t in args.targets), "epochs", "final test acc",
                            "train images/s", "total s"]))
    if len(rows) == 2:
        for t in args.targets:
            a, b = (r["reached"][f"{t:.4f}"] for r in rows)
            if a and b:
                print(f"speed-up to {t:.2%}: {a['seconds'] / b['seconds']:.2f}x")
            elif b:
                print(f"{t:.2%}: only the default recipe reached it (in {b['seconds']} s; the reference did not "
                      f"in {rows[0]['total_seconds']} s)")
    if args.json:
        from edgenets._io import write_json

        write_json(args.json, {"args": vars(args), "results": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
