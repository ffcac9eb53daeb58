"""A model built from nn.ModuleList (PyTorch's "dynamic net" idea, fixed depth), trained on scikit-learn's
digits with nn.CrossEntropyLoss and optim.SGD through a DataLoader.

    python examples/pytorch_style/module_list.py [--backend torch] [--epochs 5] [--device cuda]
"""

import argparse

import numpy as np
from _backend import load
from sklearn.datasets import load_digits

p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
p.add_argument("--backend", default="dlcore")
p.add_argument("--epochs", type=int, default=5)
p.add_argument("--limit", type=int, default=0, help="train on the first N samples only")
p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
args = p.parse_args()
torch, nn, F, optim, data = load(args.backend)


class StackedNet(nn.Module):
    def __init__(self, sizes):
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(i, o) for i, o in zip(sizes[:-1], sizes[1:])])

    def forward(self, x):
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = F.relu(x)
        return x


digits = load_digits()
X = torch.from_numpy((digits.data / 16.0).astype(np.float32))
y = torch.from_numpy(digits.target.astype(np.int64))
if args.limit:
    X, y = X[:args.limit], y[:args.limit]
n_train = int(0.8 * len(X))
train = data.TensorDataset(X[:n_train], y[:n_train])
loader = data.DataLoader(train, batch_size=32, shuffle=True)

torch.manual_seed(0)
device = torch.device(args.device)
model = StackedNet([64, 64, 32, 10]).to(device)
criterion = nn.CrossEntropyLoss()
optimizer = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

for epoch in range(args.epochs):
    total = 0.0
    for inputs, targets in loader:
        inputs, targets = inputs.to(device), targets.to(device)
        optimizer.zero_grad()
        loss = criterion(model(inputs), targets)
        loss.backward()
        optimizer.step()
        total += loss.item() * inputs.size(0)
    print(f"epoch {epoch + 1}: loss {total / n_train:.4f}")

model.eval()
with torch.no_grad():
    pred = model(X[n_train:].to(device)).argmax(dim=1)
    accuracy = pred.eq(y[n_train:].to(device)).sum().item() / len(pred)
print(f"result: {accuracy:.4f}")
