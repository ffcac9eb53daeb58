"""Breast cancer (Wisconsin): z-score the 30 features, an MLP with a sigmoid output, BCE.

Lecture 000, part 4: without normalisation the features span 0.001 to 4000 and the loss is
hard to optimise; after z-scoring (statistics from the training split only) it is easy.

    python examples/breast_cancer.py --epochs 30
"""

import _common

import dlcore
import dlcore.functional as F
import dlcore.nn as nn
from dlcore.datasets import breast_cancer
from dlcore.train import evaluate, fit


def main() -> None:
    p = _common.parser(__doc__.splitlines()[0], epochs=30, lr=1e-3, batch_size=16)
    p.add_argument("--hidden", type=int, default=32)
    args = p.parse_args()
    dev = _common.setup(args)

    X, y = breast_cancer()
    X_train, X_test, y_train, y_test = _common.split_and_standardize(X, y, test_size=0.25, seed=args.seed)
    y_train, y_test = _common.binary_targets(y_train), _common.binary_targets(y_test)

    model = nn.MLP([30, args.hidden, 1], activation="relu", out_activation="sigmoid").to(dev)
    optimizer = dlcore.optim.Adam(model.parameters(), lr=args.lr)
    fit(model, F.binary_cross_entropy, optimizer, (X_train, y_train), epochs=args.epochs,
        batch_size=args.batch_size, val_data=(X_test, y_test), seed=args.seed, progress=not args.no_progress)

    result = evaluate(model, (X_test, y_test), F.binary_cross_entropy)
    print(f"test loss: {result['loss']:.4f}")
    _common.result("test accuracy", result["accuracy"], percent=True)


if __name__ == "__main__":
    main()
