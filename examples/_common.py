"""What every example shares: the command line (--device, --epochs, --seed, --out), device
choice, seeding, logging, and the result line that ends each run.

Run an example from the repository root, e.g. ``python examples/xor.py --device cpu``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

try:  # a checkout that is not pip-installed still runs: use the package next to examples/
    import dlcore  # noqa: F401
except ImportError:  # pragma: no cover - depends on the environment
    sys.path.insert(0, str(ROOT))
    import dlcore  # noqa: F401

from dlcore.backend import Device, device, manual_seed  # noqa: E402
from dlcore.preprocessing import StandardScaler, train_test_split  # noqa: E402


def parser(description: str, epochs: int | None, lr: float | None = None, batch_size: int | None = None) -> argparse.ArgumentParser:
    """The common flags; an example adds its own with ``p.add_argument`` before ``setup``."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (default: auto)")
    p.add_argument("--epochs", type=int, default=epochs,
                   help=f"training epochs (default: {epochs if epochs is not None else 'set by the example'})")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--out", default=str(ROOT / "runs"), help="folder for pictures (default: %(default)s)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    if lr is not None:
        p.add_argument("--lr", type=float, default=lr, help=f"learning rate (default: {lr})")
    if batch_size is not None:
        p.add_argument("--batch-size", type=int, default=batch_size, help=f"batch size (default: {batch_size})")
    return p


def add_mnist_arg(p: argparse.ArgumentParser) -> None:
    """--data: the folder with MNIST's IDX files ($DLCORE_DATA, else ../shared/data/mnist)."""
    default = os.environ.get("DLCORE_DATA") or str(ROOT.parent / "shared" / "data" / "mnist")
    p.add_argument("--data", default=default, help=f"folder with the MNIST IDX files (default: {default})")


def setup(args: argparse.Namespace) -> Device:
    """Seed, configure logging (epoch summaries go to stderr when there is no progress bar),
    and return the device the example runs on."""
    logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stderr)
    logging.getLogger("dlcore").setLevel(logging.INFO)
    manual_seed(args.seed)
    dev = device(args.device)
    print(f"device: {dev}", flush=True)
    return dev


def out_path(args: argparse.Namespace, name: str) -> str:
    os.makedirs(args.out, exist_ok=True)
    return os.path.join(args.out, name)


def result(name: str, value: float, percent: bool = False) -> None:
    """Print the line an example ends with: ``test accuracy: 98.12%`` or ``test mse: 0.0101``."""
    text = f"{100 * value:.2f}%" if percent else f"{value:.4g}"
    print(f"{name}: {text}", flush=True)


def binary_targets(labels):
    """Labels {0, 1} (N,) as the float (N, 1) targets binary cross-entropy expects."""
    return labels.astype("float32")[:, None]


def quiet_epochs() -> None:
    """For examples with thousands of tiny epochs: no per-epoch log lines."""
    logging.getLogger("dlcore.train").setLevel(logging.WARNING)


def split_and_standardize(X, y, test_size: float, seed: int | None):
    """Stratified train/test split, then z-score both with statistics from the training split only."""
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=test_size, stratify=y, seed=seed)
    scaler = StandardScaler().fit(X_train)
    return scaler.transform(X_train), scaler.transform(X_test), y_train, y_test


def tabular_setup(description: str, load, *, epochs: int, lr: float, batch_size: int, hidden: int):
    """The scikit-learn table examples' start: the command line (with --hidden), the device, and
    ``load()``'s table split 75/25 (stratified) and z-scored. Returns ``(args, device, splits)``."""
    p = parser(description, epochs=epochs, lr=lr, batch_size=batch_size)
    p.add_argument("--hidden", type=int, default=hidden)
    args = p.parse_args()
    dev = setup(args)
    X, y = load()
    return args, dev, split_and_standardize(X, y, test_size=0.25, seed=args.seed)


def fit_with_adam(model, loss_fn, args: argparse.Namespace, train: tuple, test: tuple) -> dict:
    """Train with Adam at --lr for --epochs (the test split as validation data), print the test
    loss and return :func:`dlcore.train.evaluate`'s dict."""
    from dlcore.optim import Adam
    from dlcore.train import evaluate, fit

    fit(model, loss_fn, Adam(model.parameters(), lr=args.lr), train, epochs=args.epochs, batch_size=args.batch_size,
        val_data=test, seed=args.seed, progress=not args.no_progress)
    scores = evaluate(model, test, loss_fn)
    print(f"test loss: {scores['loss']:.4f}")
    return scores
