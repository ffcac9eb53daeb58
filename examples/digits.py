"""scikit-learn's 8x8 digits (1797 images, 10 classes): z-score, an MLP, cross-entropy.

    python examples/digits.py --epochs 30
"""

import _common

import dlcore
import dlcore.functional as F
import dlcore.nn as nn
from dlcore.datasets import digits
from dlcore.metrics import confusion_matrix
from dlcore.train import evaluate, fit, predict


def main() -> None:
    p = _common.parser(__doc__.splitlines()[0], epochs=30, lr=1e-3, batch_size=32)
    p.add_argument("--hidden", type=int, default=128)
    args = p.parse_args()
    dev = _common.setup(args)

    X, y = digits()
    X_train, X_test, y_train, y_test = _common.split_and_standardize(X, y, test_size=0.25, seed=args.seed)

    model = nn.MLP([64, args.hidden, 10], activation="relu").to(dev)  # logits out
    optimizer = dlcore.optim.Adam(model.parameters(), lr=args.lr)
    fit(model, F.cross_entropy, optimizer, (X_train, y_train), epochs=args.epochs, batch_size=args.batch_size,
        val_data=(X_test, y_test), seed=args.seed, progress=not args.no_progress)

    result = evaluate(model, (X_test, y_test), F.cross_entropy)
    print("confusion matrix (rows: true digit, columns: predicted):")
    print(confusion_matrix(y_test, predict(model, X_test), num_classes=10))
    print(f"test loss: {result['loss']:.4f}")
    _common.result("test accuracy", result["accuracy"], percent=True)


if __name__ == "__main__":
    main()
