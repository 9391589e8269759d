"""What more test-time views and a prior correction would add to a trained model: accuracy and macro F1 per variant.

Scores the prepared test split with: one pass; the flip, joined by the views'
mean logits (``views.average``, what ``evaluate.test_time_flip`` does) and by
their mean probability; the flip plus four shifts of 2 and 3 pixels, each also
flipped (10 views, both ways); and the joined flip divided by the training
split's class prior raised to 0.25, 0.5 and 1
(a post-hoc logit adjustment: what class weights would do in the loss).  Prints
per-class F1 beside each, and the CPU.  Usage, on a model that
``bench/fer_recipe.py --keep`` left behind::

    python bench/prediction_views.py --model <kept>/repo/models/vgg_bn.keras \\
        --data <kept>/repo/data/prepared
    python bench/prediction_views.py            # main's models/vgg_bn.keras on data/prepared
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import emotion_lib  # noqa: E402, F401, I001  (oneDNN on before TensorFlow loads, as in the stages)
# isort: split
from bench.machine import cpu_description  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=Path("models/vgg_bn.keras"))
    parser.add_argument("--data", type=Path, default=Path("data/prepared"), help="prepare's output folder")
    parser.add_argument("--batch-size", type=int, default=256)
    args = parser.parse_args()

    from sklearn.metrics import accuracy_score, f1_score

    from emotion_lib.evaluation import predict_views
    from emotion_lib.inputs import load_split
    from emotion_lib.models import load_model
    from emotion_lib.views import average

    print(f"CPU: {cpu_description()}", flush=True)
    model = load_model(args.model)
    images, labels = load_split(args.data, "test")
    _, train_labels = load_split(args.data, "train_full")
    start = time.perf_counter()

    def report(name: str, probabilities: np.ndarray) -> None:
        predicted = probabilities.argmax(axis=1)
        per_class = " ".join(f"{f1:.3f}" for f1 in f1_score(labels, predicted, average=None))
        print(f"{name:44s} accuracy {accuracy_score(labels, predicted):.4f}  "
              f"macro F1 {f1_score(labels, predicted, average='macro'):.4f}  per-class F1 {per_class}", flush=True)

    # The views evaluation scores (evaluate.test_time_flip / test_time_shift), kept apart so that both ways of
    # joining them are measured: views.average (mean logits, what evaluate and predict do) and the mean probability.
    base = predict_views(model, images, batch_size=args.batch_size, flip=True)
    report("one pass", base[0])
    report("flip, joined (evaluate.test_time_flip)", average(base[:2]))
    report("  the same, mean probability", (base[0] + base[1]) / 2)
    for pixels in (2, 3):
        views = predict_views(model, images, batch_size=args.batch_size, flip=True, shift=pixels)
        report(f"flip + 4 shifts of {pixels} px (10 views), joined", average(views))
        report("  the same, mean probability", np.mean(views, axis=0))
    prior = np.bincount(train_labels, minlength=base[0].shape[1]) / len(train_labels)
    for power in (0.25, 0.5, 1.0):
        report(f"flip, joined / training prior^{power}", average(base[:2]) / prior ** power)
    print(f"{len(images)} test images, {time.perf_counter() - start:.0f} s of prediction", flush=True)


if __name__ == "__main__":
    main()
