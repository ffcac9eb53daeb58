"""Batch, mini-batch and stochastic gradient descent (lecture 001) on the same model and data.

The same MLP, from the same initial weights and with the same learning rate, is trained three
times: batch GD (batch size = all training data: one update per epoch), mini-batch GD and
stochastic GD (batch size 1). After each epoch the loss over the whole training set is
recorded; the three curves go into one PNG.

    python examples/batch_modes.py --epochs 40
"""

import _common

import dlcore
import dlcore.functional as F
import dlcore.nn as nn
from dlcore.datasets import playground
from dlcore.plot import plot_loss_curves
from dlcore.train import evaluate, fit


def main() -> None:
    p = _common.parser(__doc__.splitlines()[0], epochs=40, lr=0.5, batch_size=16)
    p.add_argument("--dataset", default="circle")
    args = p.parse_args()
    dev = _common.setup(args)
    _common.quiet_epochs()

    X, y = playground(args.dataset, n=300, noise=0.1, seed=args.seed)
    X_train, X_test, y_train, y_test = _common.split_and_standardize(X, y, test_size=0.5, seed=args.seed)
    y_train, y_test = _common.binary_targets(y_train), _common.binary_targets(y_test)
    n = len(X_train)

    dlcore.manual_seed(args.seed)
    initial = nn.MLP([2, 8, 1], activation="tanh").state_dict()  # one set of starting weights for all

    modes = {"batch GD": None, f"mini-batch GD ({args.batch_size})": args.batch_size, "stochastic GD": 1}
    curves, results = {}, {}
    for name, batch_size in modes.items():
        model = nn.MLP([2, 8, 1], activation="tanh")
        model.load_state_dict(initial)
        model.to(dev)
        optimizer = dlcore.optim.SGD(model.parameters(), lr=args.lr)
        history = fit(model, F.binary_cross_entropy_with_logits, optimizer, (X_train, y_train),
                      epochs=args.epochs, batch_size=batch_size, val_data=(X_train, y_train),  # whole-set loss
                      seed=args.seed, progress=False)
        updates = 1 if batch_size is None else -(-n // batch_size)
        curves[f"{name}: {updates} update{'s' if updates > 1 else ''}/epoch"] = history["val_loss"]
        results[name] = evaluate(model, (X_test, y_test), F.binary_cross_entropy_with_logits)
        print(f"{name:>22}: training loss {history['val_loss'][-1]:.4f} after {args.epochs * updates} updates, "
              f"{sum(history['time']):.1f}s")

    path = plot_loss_curves(curves, _common.out_path(args, "batch_modes.png"), ylabel="training loss (whole set)",
                            title=f"{args.dataset}: same model, same lr = {args.lr}")
    print(f"loss curves: {path}")
    for name, result in results.items():
        _common.result(f"{name} test accuracy", result["accuracy"], percent=True)


if __name__ == "__main__":
    main()
