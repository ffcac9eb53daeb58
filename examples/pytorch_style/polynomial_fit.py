"""Fit sin(x) with a cubic polynomial by hand-written gradient descent (PyTorch's "Learning PyTorch
with examples", the autograd step): tensors with requires_grad, loss.backward(), and updates under
no_grad with `w -= lr * w.grad; w.grad = None`.

    python examples/pytorch_style/polynomial_fit.py [--backend torch] [--steps 2000] [--device cuda]
"""

import argparse
import math

from _backend import load

p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
p.add_argument("--backend", default="dlcore")
p.add_argument("--steps", type=int, default=2000)
p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
args = p.parse_args()
torch, nn, F, optim, data = load(args.backend)

dtype = torch.float
device = torch.device(args.device)
torch.manual_seed(0)
x = torch.linspace(-math.pi, math.pi, 2000, device=device, dtype=dtype)
y = torch.sin(x)

a = torch.randn((), device=device, dtype=dtype, requires_grad=True)
b = torch.randn((), device=device, dtype=dtype, requires_grad=True)
c = torch.randn((), device=device, dtype=dtype, requires_grad=True)
d = torch.randn((), device=device, dtype=dtype, requires_grad=True)

learning_rate = 1e-6
for t in range(args.steps):
    y_pred = a + b * x + c * x ** 2 + d * x ** 3
    loss = (y_pred - y).pow(2).sum()
    if t % 500 == 99:
        print(t, loss.item())
    loss.backward()
    with torch.no_grad():
        a -= learning_rate * a.grad
        b -= learning_rate * b.grad
        c -= learning_rate * c.grad
        d -= learning_rate * d.grad
        a.grad = None
        b.grad = None
        c.grad = None
        d.grad = None

print(f"Result: y = {a.item()} + {b.item()} x + {c.item()} x^2 + {d.item()} x^3")
print(f"result: {loss.item():.4f}")
