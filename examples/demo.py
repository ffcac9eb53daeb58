"""`make demo`: dlcore in about a minute, on the best device there is.

1. Trains an MLP and a small CNN on handwritten digits, with a progress bar, and prints their
   test accuracy. The digits are scikit-learn's bundled 8x8 set, or MNIST when $DLCORE_DATA
   points at a folder with its IDX files (on a CPU a subset, to stay near a minute).
2. Trains a small tanh MLP on the Playground's spiral and draws its decision boundary.
3. Writes the pictures to demo_out/: loss and accuracy curves of both models, the CNN's first
   filters and feature maps of one digit, and the spiral's decision boundary.

    python examples/demo.py [--device auto] [--epochs N] [--seed 0] [--out demo_out]
"""

import os
import time

import _common

import dlcore
import dlcore.functional as F
import dlcore.nn as nn
from dlcore.datasets import digits, mnist, playground
from dlcore.nn import Conv2d, MaxPool2d
from dlcore.plot import plot_decision_boundary, plot_history, show_feature_maps, show_filters
from dlcore.preprocessing import train_test_split
from dlcore.train import evaluate, fit

MNIST_CPU_SUBSET = (10000, 2000)  # train, test images on a CPU
EPOCHS = {"digits": 10, "MNIST": 4}  # default --epochs per data set


def load_digits_or_mnist(dev, seed):
    """(name, X_train, X_test, y_train, y_test) with images (N, 1, H, W) in [0, 1]."""
    if os.environ.get("DLCORE_DATA"):
        try:
            X_train, y_train = mnist(split="train")
            X_test, y_test = mnist(split="test")
        except FileNotFoundError as exc:
            print(f"no MNIST under DLCORE_DATA ({exc}); using the digits instead")
        else:
            if dev.type != "cpu":
                return "MNIST", X_train, X_test, y_train, y_test
            n_train, n_test = MNIST_CPU_SUBSET
            return (f"MNIST (CPU subset: {n_train} train / {n_test} test)",
                    X_train[:n_train], X_test[:n_test], y_train[:n_train], y_test[:n_test])
    X, y = digits(images=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, stratify=y, seed=seed)
    return "scikit-learn digits (8x8)", X_train, X_test, y_train, y_test


def small_cnn(side: int) -> nn.Sequential:
    """Two conv(3x3, pad 1) + ReLU + maxpool(2) blocks and a linear layer: side -> side / 4."""
    return nn.Sequential(
        Conv2d(1, 16, 3, padding=1), nn.ReLU(), MaxPool2d(2),
        Conv2d(16, 32, 3, padding=1), nn.ReLU(), MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * (side // 4) ** 2, 10),
    )


def train(name, model, X_train, y_train, X_test, y_test, args):
    print(f"\n== {name}: {model.num_parameters():,} parameters", flush=True)
    optimizer = dlcore.optim.Adam(model.parameters(), lr=args.lr)
    history = fit(model, F.cross_entropy, optimizer, (X_train, y_train), epochs=args.epochs, batch_size=64,
                  val_data=(X_test, y_test), seed=args.seed, progress=not args.no_progress)
    accuracy = evaluate(model, (X_test, y_test))["accuracy"]
    print(f"{name} test accuracy: {100 * accuracy:.2f}% ({sum(history['time']):.1f}s)", flush=True)
    return history, accuracy


def main() -> None:
    p = _common.parser(__doc__.splitlines()[0], epochs=None, lr=2e-3)  # None: EPOCHS[data set]
    p.set_defaults(out=str(_common.ROOT / "demo_out"))
    p.add_argument("--spiral-epochs", type=int, default=150, help="epochs for the spiral model (default: 150)")
    args = p.parse_args()
    dev = _common.setup(args)
    t0 = time.perf_counter()

    data_name, X_train, X_test, y_train, y_test = load_digits_or_mnist(dev, args.seed)
    side = X_train.shape[-1]
    if args.epochs is None:
        args.epochs = EPOCHS["MNIST" if data_name.startswith("MNIST") else "digits"]
    mean, std = X_train.mean(), X_train.std()  # one global z-score from the training images
    X_train, X_test = (X_train - mean) / std, (X_test - mean) / std
    print(f"data: {data_name}, {len(X_train)} train / {len(X_test)} test images of {side}x{side}", flush=True)

    flat = lambda X: X.reshape(len(X), -1)  # noqa: E731
    mlp = nn.MLP([side * side, 128, 10], activation="relu").to(dev)
    mlp_history, mlp_acc = train("MLP", mlp, flat(X_train), y_train, flat(X_test), y_test, args)
    cnn = small_cnn(side).to(dev)
    cnn_history, cnn_acc = train("CNN", cnn, X_train, y_train, X_test, y_test, args)

    print("\n== spiral (TensorFlow Playground): 2-8-8-1 tanh MLP", flush=True)
    _common.quiet_epochs()  # 150 short epochs: no log line for each
    X, y = playground("spiral", n=400, noise=0.0, seed=args.seed)
    spiral = nn.MLP([2, 8, 8, 1], activation="tanh").to(dev)
    targets = _common.binary_targets(y)
    fit(spiral, F.binary_cross_entropy_with_logits, dlcore.optim.Adam(spiral.parameters(), lr=0.03), (X, targets),
        epochs=args.spiral_epochs, batch_size=10, seed=args.seed, progress=False)
    spiral_acc = evaluate(spiral, (X, targets), F.binary_cross_entropy_with_logits)["accuracy"]
    print(f"spiral training accuracy: {100 * spiral_acc:.2f}%")

    saved = [
        plot_history(mlp_history, _common.out_path(args, "mlp_history.png"), title=f"MLP on {data_name}"),
        plot_history(cnn_history, _common.out_path(args, "cnn_history.png"), title=f"CNN on {data_name}"),
        show_filters(cnn[0], _common.out_path(args, "cnn_filters.png"), title="first conv layer"),
        show_feature_maps(cnn, X_test[0], _common.out_path(args, "cnn_feature_maps.png"),
                          title=f"feature maps (label {int(y_test[0])})"),
        plot_decision_boundary(spiral, X, y, _common.out_path(args, "spiral_decision_boundary.png"),
                               title=f"spiral, 2-8-8-1 tanh: {100 * spiral_acc:.1f}% (training)"),
    ]
    print("\npictures:\n  " + "\n  ".join(saved))
    print(f"total time: {time.perf_counter() - t0:.0f}s on {dev}")
    print(f"MLP test accuracy: {100 * mlp_acc:.2f}%")
    _common.result("CNN test accuracy", cnn_acc, percent=True)


if __name__ == "__main__":
    main()
