"""MNIST with an MLP: 784-512-256-10, ReLU, dropout, Adam with cosine annealing, 10 epochs.

Reads the four IDX files from --data (default: $DLCORE_DATA, else ../shared/data/mnist next
to the repository). Nothing is downloaded. On a GPU the whole training set is copied to the
device once and batches are sliced there.

    python examples/mnist_mlp.py --epochs 10 --device auto
"""

import _common

import dlcore
import dlcore.functional as F
import dlcore.nn as nn
from dlcore.datasets import mnist
from dlcore.plot import plot_history
from dlcore.train import evaluate, fit


def main() -> None:
    p = _common.parser(__doc__.splitlines()[0], epochs=10, lr=1e-3, batch_size=128)
    _common.add_mnist_arg(p)
    p.add_argument("--dropout", type=float, default=0.2)
    args = p.parse_args()
    dev = _common.setup(args)

    X_train, y_train = mnist(args.data, "train")
    X_test, y_test = mnist(args.data, "test")
    mean, std = X_train.mean(), X_train.std()  # one global z-score, from the training images
    X_train = ((X_train - mean) / std).reshape(len(X_train), -1)
    X_test = ((X_test - mean) / std).reshape(len(X_test), -1)

    model = nn.MLP([784, 512, 256, 10], activation="relu", dropout=args.dropout).to(dev)
    optimizer = dlcore.optim.Adam(model.parameters(), lr=args.lr)
    scheduler = dlcore.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs)
    history = fit(model, F.cross_entropy, optimizer, (X_train, y_train), epochs=args.epochs,
                  batch_size=args.batch_size, val_data=(X_test, y_test),  # monitored only, never selected on
                  scheduler=scheduler, seed=args.seed,
                  progress=not args.no_progress)

    print(f"curves: {plot_history(history, _common.out_path(args, 'mnist_mlp_history.png'), title='MNIST MLP')}")
    result = evaluate(model, (X_test, y_test), F.cross_entropy)
    print(f"test loss: {result['loss']:.4f}")
    _common.result("test accuracy", result["accuracy"], percent=True)


if __name__ == "__main__":
    main()
