"""scikit-learn's 8x8 digits (1797 images, 10 classes): z-score, an MLP, cross-entropy.

    python examples/digits.py --epochs 30
"""

import _common

import dlcore.functional as F
import dlcore.nn as nn
from dlcore.datasets import digits
from dlcore.metrics import confusion_matrix
from dlcore.train import predict


def main() -> None:
    args, dev, (X_train, X_test, y_train, y_test) = _common.tabular_setup(
        __doc__.splitlines()[0], digits, epochs=30, lr=1e-3, batch_size=32, hidden=128)

    model = nn.MLP([64, args.hidden, 10], activation="relu").to(dev)  # logits out
    scores = _common.fit_with_adam(model, F.cross_entropy, args, (X_train, y_train), (X_test, y_test))
    print("confusion matrix (rows: true digit, columns: predicted):")
    print(confusion_matrix(y_test, predict(model, X_test), num_classes=10))
    _common.result("test accuracy", scores["accuracy"], percent=True)


if __name__ == "__main__":
    main()
