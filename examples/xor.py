"""XOR (lecture 001): no line separates it, one hidden layer with a non-linearity does.

A 2-4-1 MLP with tanh and a sigmoid output, trained with binary cross-entropy on the four
points by full-batch gradient descent (Adam). The "test set" of XOR is the same four points.

    python examples/xor.py --epochs 300
"""

import _common

import dlcore
import dlcore.functional as F
import dlcore.nn as nn
from dlcore.datasets import xor
from dlcore.metrics import accuracy
from dlcore.train import fit, predict


def main() -> None:
    p = _common.parser(__doc__.splitlines()[0], epochs=300, lr=0.1)
    p.add_argument("--hidden", type=int, default=4, help="hidden units (default: 4)")
    args = p.parse_args()
    dev = _common.setup(args)
    _common.quiet_epochs()  # hundreds of one-step epochs: keep the log short

    X, y = xor()
    targets = _common.binary_targets(y)
    model = nn.MLP([2, args.hidden, 1], activation="tanh", out_activation="sigmoid").to(dev)
    optimizer = dlcore.optim.Adam(model.parameters(), lr=args.lr)
    history = fit(model, F.binary_cross_entropy, optimizer, (X, targets), epochs=args.epochs, batch_size=None,
                  seed=args.seed, progress=False)

    probs = predict(model, X)[:, 0]
    for point, label, prob in zip(X, y, probs):
        print(f"x = {point.astype(int).tolist()}  target {label}  p(1) = {prob:.3f}")
    print(f"final loss: {history['loss'][-1]:.4f}")
    _common.result("test accuracy", accuracy(probs, y), percent=True)


if __name__ == "__main__":
    main()
