"""The CIFAR-10 tutorial's training loop (torch.max(outputs.data, 1), (predicted == labels).sum().item(),
x.view(-1, 16 * 5 * 5)) with its small CNN, on synthetic 32x32 images so nothing is downloaded.

    python examples/pytorch_style/classifier_loop.py [--backend torch] [--epochs 2] [--device cuda]
"""

import argparse

from _backend import load

p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
p.add_argument("--backend", default="dlcore")
p.add_argument("--epochs", type=int, default=2)
p.add_argument("--samples", type=int, default=256)
p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
args = p.parse_args()
torch, nn, F, optim, data = load(args.backend)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 5)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 4)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = x.view(-1, 16 * 5 * 5)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


torch.manual_seed(0)
labels_all = torch.randint(0, 4, (args.samples,))
images = torch.randn(args.samples, 3, 32, 32) * 0.5
for k in range(4):  # each class brightens one quadrant: learnable, but not trivially
    rows = (labels_all == k).float().view(-1, 1, 1, 1)
    r, c = divmod(k, 2)
    images[:, :, r * 16:(r + 1) * 16, c * 16:(c + 1) * 16] += rows * 1.0
trainloader = data.DataLoader(data.TensorDataset(images, labels_all), batch_size=16, shuffle=True)

device = torch.device(args.device)
net = Net().to(device)  # the tutorial's "Training on GPU" step
criterion = nn.CrossEntropyLoss()
optimizer = optim.SGD(net.parameters(), lr=0.01, momentum=0.9)

for epoch in range(args.epochs):
    running_loss = 0.0
    for i, (inputs, labels) in enumerate(trainloader, 0):
        inputs, labels = inputs.to(device), labels.to(device)
        optimizer.zero_grad()
        outputs = net(inputs)
        loss = criterion(outputs, labels)
        loss.backward()
        optimizer.step()
        running_loss += loss.item()
    print(f"[{epoch + 1}] loss: {running_loss / len(trainloader):.3f}")

correct = 0
total = 0
with torch.no_grad():  # the tutorial's accuracy loop, with its GPU step
    for data in trainloader:
        images, labels = data[0].to(device), data[1].to(device)
        outputs = net(images)
        _, predicted = torch.max(outputs.data, 1)
        total += labels.size(0)
        correct += (predicted == labels).sum().item()
print(f"result: {correct / total:.4f}")
