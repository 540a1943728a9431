"""Training throughput on CPU: examples per second for the trigger architectures.

Side by side in one run, on the same 10 s examples (log-mel 998 x 40):

- ours: Keras ``fit`` fed by :class:`lib.trigger.train.TrainingData` (the ``tf.data`` pipeline
  that reads a named dataset's memory maps and regenerates labels at the model's rate), for
  the shipped ``small`` architecture and the notes' ``seed`` architecture;
- reference: the same ``fit`` on the same batches already in memory
  (``tf.data.Dataset.from_tensor_slices``), the upper bound without any input pipeline.

The first epoch (graph tracing) is timed separately; throughput is from the next ``--steps``
steps. Uses every core TensorFlow sees (its default), like training does.
Usage: .venv/bin/python benchmarks/training.py [--quick] [--dataset NAME] [--steps 8]
Prints a table to stderr and one JSON line of figures to stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def fit_seconds(model: Any, ds: Any, steps: int) -> float:
    start = time.perf_counter()
    model.fit(ds, epochs=1, steps_per_epoch=steps, verbose=0)
    return time.perf_counter() - start


def measure(arch_name: str, dataset: str, batch: int, steps: int) -> dict[str, Any]:
    import tensorflow as tf

    from lib.trigger.model import ArchSpec, build_model, count_parameters
    from lib.trigger.train import TrainingData, _compile

    arch = ArchSpec.preset(arch_name)
    data = TrainingData({dataset: 1.0}, 0.36, None, arch)
    model = build_model(arch, data.bins)
    _compile(model, 1e-3)
    first = fit_seconds(model, data.train_dataset(0, 0, 1, 1, batch), 1)
    pipeline = fit_seconds(model, data.train_dataset(0, 1, 2, steps, batch), steps)
    pairs = data.plan(0, 1, steps * batch)
    x, y = data.gather(pairs)
    memory = tf.data.Dataset.from_tensor_slices((x, y)).batch(batch, drop_remainder=True)
    in_memory = fit_seconds(model, memory, steps)
    n = steps * batch
    return {
        "arch": arch_name,
        "example_seconds": round(data.steps * data.hop_seconds, 2),
        "parameters": count_parameters(model),
        "first_step_seconds": round(first, 2),
        "examples_per_second": round(n / pipeline, 1),
        "in_memory_examples_per_second": round(n / in_memory, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny 2 s examples (smoke run)")
    parser.add_argument("--dataset", default=None, help="named dataset (default: a toy one)")
    parser.add_argument("--steps", type=int, default=8, help="timed steps per measurement")
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    tmp = None
    if args.dataset is None:
        tmp = tempfile.TemporaryDirectory()
        os.environ["HEYJOE_DATA_DIR"] = tmp.name
        from lib.trigger.testing import toy_dataset

        n = 16 if args.quick else 2 * args.batch_size
        toy_dataset("bench", n, seed=0, example_seconds=2.0 if args.quick else 10.0)
        args.dataset = "bench"
    archs = ["tiny"] if args.quick else ["small", "seed"]
    batch = 4 if args.quick else args.batch_size
    steps = 2 if args.quick else args.steps
    rows = [measure(a, args.dataset, batch, steps) for a in archs]
    import tensorflow as tf

    main_row = rows[0]
    figures = {
        "benchmark": "training",
        "dataset": args.dataset,
        "example_seconds": main_row["example_seconds"],
        "batch_size": batch,
        "devices": [d.device_type for d in tf.config.list_physical_devices()],
        "cpu_count": os.cpu_count(),
        "arch": main_row["arch"],
        "examples_per_second": main_row["examples_per_second"],
        "in_memory_examples_per_second": main_row["in_memory_examples_per_second"],
        "pipeline_over_in_memory": round(
            main_row["examples_per_second"] / main_row["in_memory_examples_per_second"], 3
        ),
        "per_arch": rows,
    }
    if len(rows) > 1:
        figures["small_over_seed_speed"] = round(
            rows[0]["examples_per_second"] / rows[1]["examples_per_second"], 2
        )
    print(f"{'arch':<8}{'params':>9}{'first step s':>14}{'ex/s (ours)':>13}{'ex/s (memory)':>15}",
          file=sys.stderr)  # fmt: skip
    for r in rows:
        print(f"{r['arch']:<8}{r['parameters']:>9}{r['first_step_seconds']:>14}"
              f"{r['examples_per_second']:>13}{r['in_memory_examples_per_second']:>15}",
              file=sys.stderr)  # fmt: skip
    print(json.dumps(figures))
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
