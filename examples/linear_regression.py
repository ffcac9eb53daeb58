"""Lecture 000's five steps of linear regression, written out.

1. Data: points (x_i, y_i) on a noisy line y = 3x - 2.
2. Model: y = w x + b (one Linear(1, 1) layer).
3. Loss: mean squared error.
4. Optimisation: gradient descent, theta <- theta - lr * grad L (full batch).
5. Inference: predict y for x the model has never seen.

    python examples/linear_regression.py --epochs 100
"""

import _common

import dlcore
import dlcore.functional as F
import dlcore.nn as nn
from dlcore.datasets import linear
from dlcore.preprocessing import train_test_split
from dlcore.train import predict


def main() -> None:
    p = _common.parser(__doc__.splitlines()[0], epochs=100, lr=0.5)
    p.add_argument("--w", type=float, default=3.0, help="true slope")
    p.add_argument("--b", type=float, default=-2.0, help="true intercept")
    p.add_argument("--noise", type=float, default=0.1)
    args = p.parse_args()
    dev = _common.setup(args)

    # 1. data
    X, y = linear(200, w=args.w, b=args.b, noise=args.noise, seed=args.seed)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, seed=args.seed)
    x = dlcore.tensor(X_train, device=dev)
    t = dlcore.tensor(y_train, device=dev)

    # 2. model
    model = nn.Linear(1, 1).to(dev)
    optimizer = dlcore.optim.SGD(model.parameters(), lr=args.lr)

    for epoch in range(1, args.epochs + 1):
        loss = F.mse_loss(model(x), t)  # 3. loss
        optimizer.zero_grad()
        loss.backward()                 # 4. gradients by backpropagation ...
        optimizer.step()                # ... and one gradient-descent step
        if epoch == 1 or epoch % max(1, args.epochs // 5) == 0:
            print(f"epoch {epoch:4d}  mse {loss.item():.5f}  w {model.weight.item():+.4f}  b {model.bias.item():+.4f}")

    # 5. inference
    w, b = model.weight.item(), model.bias.item()
    print(f"recovered w = {w:.4f} (true {args.w}), b = {b:.4f} (true {args.b})")
    for x_new in (-1.0, 0.0, 1.0):
        y_hat = predict(model, [[x_new]])[0, 0]
        print(f"predict x = {x_new:+.1f} -> y = {y_hat:+.4f}")
    test_mse = ((predict(model, X_test) - y_test) ** 2).mean()
    _common.result("test mse", float(test_mse))


if __name__ == "__main__":
    main()
