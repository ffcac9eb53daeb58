"""Breast cancer (Wisconsin): z-score the 30 features, an MLP with a sigmoid output, BCE.

Lecture 000, part 4: without normalisation the features span 0.001 to 4000 and the loss is
hard to optimise; after z-scoring (statistics from the training split only) it is easy.

    python examples/breast_cancer.py --epochs 30
"""

import _common

import dlcore.functional as F
import dlcore.nn as nn
from dlcore.datasets import breast_cancer


def main() -> None:
    args, dev, (X_train, X_test, y_train, y_test) = _common.tabular_setup(
        __doc__.splitlines()[0], breast_cancer, epochs=30, lr=1e-3, batch_size=16, hidden=32)
    y_train, y_test = _common.binary_targets(y_train), _common.binary_targets(y_test)

    model = nn.MLP([30, args.hidden, 1], activation="relu", out_activation="sigmoid").to(dev)
    scores = _common.fit_with_adam(model, F.binary_cross_entropy, args, (X_train, y_train), (X_test, y_test))
    _common.result("test accuracy", scores["accuracy"], percent=True)


if __name__ == "__main__":
    main()
