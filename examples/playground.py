"""The TensorFlow Playground in a script: circle, xor, gauss or spiral, an MLP, and its picture.

As in the Playground: 2-D points, half for training and half for testing, inputs x1 and x2,
tanh hidden layers, batch size 10. The decision boundary (the model's P(class 1) over the
plane, orange for class 0, blue for class 1) is saved as a PNG.

    python examples/playground.py --dataset spiral --hidden 8,8 --activation tanh
"""

import _common

import dlcore
import dlcore.functional as F
import dlcore.nn as nn
from dlcore.datasets import PLAYGROUND_DATASETS, playground
from dlcore.plot import plot_decision_boundary
from dlcore.preprocessing import train_test_split
from dlcore.train import evaluate, fit


def main() -> None:
    p = _common.parser(__doc__.splitlines()[0], epochs=200, lr=0.03, batch_size=10)
    p.add_argument("--dataset", default="spiral", choices=PLAYGROUND_DATASETS)
    p.add_argument("--hidden", default="8,8", help="hidden layer sizes, comma-separated (default: 8,8)")
    p.add_argument("--activation", default="tanh", help="tanh, relu, sigmoid, ... (default: tanh)")
    p.add_argument("--n", type=int, default=500, help="number of points (default: 500)")
    p.add_argument("--noise", type=float, default=0.0, help="the Playground's noise / 100, 0 to 0.5")
    args = p.parse_args()
    dev = _common.setup(args)

    X, y = playground(args.dataset, n=args.n, noise=args.noise, seed=args.seed)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.5, seed=args.seed)

    hidden = [int(h) for h in args.hidden.split(",") if h]
    model = nn.MLP([2, *hidden, 1], activation=args.activation).to(dev)  # one logit out
    optimizer = dlcore.optim.Adam(model.parameters(), lr=args.lr)
    fit(model, F.binary_cross_entropy_with_logits, optimizer, (X_train, _common.binary_targets(y_train)), epochs=args.epochs,
        batch_size=args.batch_size, val_data=(X_test, _common.binary_targets(y_test)), seed=args.seed,
        progress=not args.no_progress)

    result = evaluate(model, (X_test, _common.binary_targets(y_test)), F.binary_cross_entropy_with_logits)
    path = plot_decision_boundary(model, X, y, _common.out_path(args, f"playground_{args.dataset}.png"),
                                  title=f"{args.dataset}: hidden {args.hidden} {args.activation}, "
                                        f"test accuracy {100 * result['accuracy']:.1f}%")
    print(f"test loss: {result['loss']:.4f}")
    print(f"decision boundary: {path}")
    _common.result("test accuracy", result["accuracy"], percent=True)


if __name__ == "__main__":
    main()
