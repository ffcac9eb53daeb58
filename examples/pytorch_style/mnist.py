"""pytorch/examples' mnist/main.py, with its Net, Adadelta + StepLR, F.nll_loss on log_softmax and the
test loop's `output.argmax(dim=1, keepdim=True)` / `pred.eq(target.view_as(pred)).sum().item()`.
The IDX files are read with dlcore.datasets.mnist (from --data, $DLCORE_DATA or ../shared/data/mnist);
nothing is downloaded.

    python examples/pytorch_style/mnist.py [--backend torch] [--epochs 1] [--limit 6000] [--device cuda]
"""

import argparse
import os

from _backend import load

from dlcore.datasets import mnist

p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
p.add_argument("--backend", default="dlcore")
p.add_argument("--data", default=None)
p.add_argument("--epochs", type=int, default=1)
p.add_argument("--limit", type=int, default=6000, help="train and test on the first N images (0: all)")
p.add_argument("--batch-size", type=int, default=64)
p.add_argument("--lr", type=float, default=1.0)
p.add_argument("--gamma", type=float, default=0.7)
p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
args = p.parse_args()
HERE = os.path.dirname(os.path.abspath(__file__))
torch, nn, F, optim, data = load(args.backend)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(9216, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = self.conv1(x)
        x = F.relu(x)
        x = self.conv2(x)
        x = F.relu(x)
        x = F.max_pool2d(x, 2)
        x = self.dropout1(x)
        x = torch.flatten(x, 1)
        x = self.fc1(x)
        x = F.relu(x)
        x = self.dropout2(x)
        x = self.fc2(x)
        return F.log_softmax(x, dim=1)


def train(model, device, train_loader, optimizer, epoch):
    model.train()
    for batch_idx, (data_, target) in enumerate(train_loader):
        data_, target = data_.to(device), target.to(device)
        optimizer.zero_grad()
        output = model(data_)
        loss = F.nll_loss(output, target)
        loss.backward()
        optimizer.step()
        if batch_idx % 20 == 0:
            print(f"Train Epoch: {epoch} [{batch_idx * len(data_)}/{len(train_loader.dataset)}]\tLoss: {loss.item():.6f}")


def test(model, device, test_loader):
    model.eval()
    test_loss = 0
    correct = 0
    with torch.no_grad():
        for data_, target in test_loader:
            data_, target = data_.to(device), target.to(device)
            output = model(data_)
            test_loss += F.nll_loss(output, target, reduction="sum").item()
            pred = output.argmax(dim=1, keepdim=True)
            correct += pred.eq(target.view_as(pred)).sum().item()
    test_loss /= len(test_loader.dataset)
    print(f"Test set: Average loss: {test_loss:.4f}, Accuracy: {correct}/{len(test_loader.dataset)}")
    return correct / len(test_loader.dataset)


def tensors(split):
    X, y = mnist(args.data or os.environ.get("DLCORE_DATA") or os.path.join(HERE, "..", "..", "..", "shared", "data", "mnist"), split)
    n = args.limit or len(X)
    X = (X[:n] - 0.1307) / 0.3081  # transforms.Normalize((0.1307,), (0.3081,))
    return data.TensorDataset(torch.from_numpy(X.astype("float32")), torch.from_numpy(y[:n].astype("int64")))


torch.manual_seed(1)
train_loader = data.DataLoader(tensors("train"), batch_size=args.batch_size, shuffle=True)
test_loader = data.DataLoader(tensors("test"), batch_size=1000)
device = torch.device(args.device)
model = Net().to(device)
optimizer = optim.Adadelta(model.parameters(), lr=args.lr)
scheduler = optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=args.gamma)
for epoch in range(1, args.epochs + 1):
    train(model, device, train_loader, optimizer, epoch)
    accuracy = test(model, device, test_loader)
    scheduler.step()
print(f"result: {accuracy:.4f}")
