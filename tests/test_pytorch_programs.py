"""Short programs written in PyTorch's style, run once with torch and once with convpool
(`import convpool as torch`, `convpool.nn`, `convpool.nn.functional`, `convpool.optim`,
`convpool.utils.data`) from the same seeded weights: their losses and predictions agree.

Each program is a `build(lib)` that makes the network and a `run(lib, model, data)` that
trains and evaluates it the way tutorials do. `lib` holds the five modules under PyTorch's
names, so the program text is the same for both libraries: only the import differs.
"""

from __future__ import annotations

import types

import numpy
import pytest
from reference import needs_torch, torch

import convpool
import convpool.nn
import convpool.nn.functional
import convpool.optim
import convpool.utils.data

pytestmark = needs_torch


def _library(name: str) -> types.SimpleNamespace:
    if name == "torch":
        import torch.nn.functional
        import torch.optim
        import torch.utils.data

        return types.SimpleNamespace(torch=torch, nn=torch.nn, F=torch.nn.functional, optim=torch.optim,
                                     data=torch.utils.data)
    return types.SimpleNamespace(torch=convpool, nn=convpool.nn, F=convpool.nn.functional, optim=convpool.optim,
                                 data=convpool.utils.data)


# ----- 1. the CIFAR-10 tutorial's classifier: CrossEntropyLoss, save/load, torch.max(outputs, 1) ------
def tutorial_build(lib):
    nn, F, torch = lib.nn, lib.F, lib.torch

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 6, 5)
            self.pool = nn.MaxPool2d(2, 2)
            self.conv2 = nn.Conv2d(6, 16, 5)
            self.fc1 = nn.Linear(16 * 5 * 5, 120)
            self.fc2 = nn.Linear(120, 84)
            self.fc3 = nn.Linear(84, 10)

        def forward(self, x):
            x = self.pool(F.relu(self.conv1(x)))
            x = self.pool(F.relu(self.conv2(x)))
            x = torch.flatten(x, 1)
            x = F.relu(self.fc1(x))
            x = F.relu(self.fc2(x))
            return self.fc3(x)

    return Net()


def tutorial_run(lib, net, data, tmp_path):
    torch, nn, optim = lib.torch, lib.nn, lib.optim
    criterion = nn.CrossEntropyLoss()
    optimizer = optim.SGD(net.parameters(), lr=0.001, momentum=0.9)
    losses = []
    for _epoch in range(2):
        running_loss = 0.0
        for i in range(3):
            inputs, labels = torch.from_numpy(data["images"][i * 4:(i + 1) * 4]), torch.from_numpy(
                data["labels"][i * 4:(i + 1) * 4])
            optimizer.zero_grad()
            outputs = net(inputs)
            loss = criterion(outputs, labels)
            loss.backward()
            optimizer.step()
            running_loss += loss.item()
        losses.append(running_loss)
    path = str(tmp_path / "cifar_net.pth")
    torch.save(net.state_dict(), path)
    net = tutorial_build(lib)
    net.load_state_dict(torch.load(path, weights_only=True))
    correct, total, predictions = 0, 0, []
    with torch.no_grad():
        images, labels = torch.from_numpy(data["images"]), torch.from_numpy(data["labels"])
        outputs = net(images)
        _, predicted = torch.max(outputs, 1)
        total += labels.size(0)
        correct += (predicted == labels).sum().item()
        predictions = predicted.tolist()
    return losses, predictions, correct / total


# ----- 2. a device-agnostic loop with Adam -------------------------------------------------------
def agnostic_build(lib):
    nn = lib.nn
    # no conv bias before batch norm: its gradient is rounding noise, which Adam would blow up to lr-sized steps
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10))


def agnostic_run(lib, model, data, tmp_path):
    torch, nn, optim = lib.torch, lib.nn, lib.optim
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model = model.to(device)
    optimizer = optim.Adam(model.parameters(), lr=1e-2)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.1)
    losses = []
    model.train()
    for step in range(4):
        x = torch.tensor(data["images"][step * 3:step * 3 + 6]).to(device)
        y = torch.tensor(data["labels"][step * 3:step * 3 + 6]).to(device)
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    model.eval()
    with torch.no_grad():
        logits = model(torch.tensor(data["images"]).to(device))
        probabilities = torch.softmax(logits, dim=1)
        predictions = probabilities.argmax(dim=1).cpu().numpy().tolist()
    return losses, predictions, float(probabilities.max().item())


# ----- 3. the MNIST example: log_softmax + nll_loss, Adadelta, StepLR ------------------------------
def mnist_build(lib):
    nn, F, torch = lib.nn, lib.F, lib.torch

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 8, 3, 1)
            self.conv2 = nn.Conv2d(8, 16, 3, 1)
            # the example drops 25% and 50%; random masks differ between libraries, so none here
            self.dropout1 = nn.Dropout(0.0)
            self.dropout2 = nn.Dropout(0.0)
            self.fc1 = nn.Linear(16 * 5 * 5, 32)
            self.fc2 = nn.Linear(32, 10)

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

    return Net()


def mnist_run(lib, model, data, tmp_path):
    torch, F, optim = lib.torch, lib.F, lib.optim
    from_scheduler = lib.optim.lr_scheduler
    optimizer = optim.Adadelta(model.parameters(), lr=1.0)
    scheduler = from_scheduler.StepLR(optimizer, step_size=1, gamma=0.7)
    images = data["images"][:, :1, :14, :14].copy()
    losses = []
    for _epoch in range(3):
        model.train()
        for batch_idx in range(2):
            data_batch = torch.tensor(images[batch_idx * 6:(batch_idx + 1) * 6])
            target = torch.tensor(data["labels"][batch_idx * 6:(batch_idx + 1) * 6])
            optimizer.zero_grad()
            output = model(data_batch)
            loss = F.nll_loss(output, target)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        scheduler.step()
    model.eval()
    test_loss, correct = 0, 0
    with torch.no_grad():
        output = model(torch.tensor(images))
        target = torch.tensor(data["labels"])
        test_loss += F.nll_loss(output, target, reduction="sum").item()
        pred = output.argmax(dim=1, keepdim=True)
        correct += pred.eq(target.view_as(pred)).sum().item()
    return losses, pred.flatten().tolist(), (test_loss, correct, scheduler.get_last_lr()[0])


# ----- 4. TensorDataset and DataLoader feeding a regression -----------------------------------------
def pipeline_build(lib):
    nn = lib.nn
    return nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Linear(16, 1))


def pipeline_run(lib, model, data, tmp_path):
    torch, nn, optim, tdata = lib.torch, lib.nn, lib.optim, lib.data
    x = torch.tensor(data["table"], dtype=torch.float32)
    y = torch.tensor(data["targets"], dtype=torch.float32).unsqueeze(1)
    dataset = tdata.TensorDataset(x, y)
    loader = tdata.DataLoader(dataset, batch_size=4, shuffle=False)
    optimizer = optim.RMSprop(model.parameters(), lr=1e-2)
    criterion = nn.MSELoss()
    losses = []
    for _epoch in range(3):
        for xb, yb in loader:
            optimizer.zero_grad()
            loss = criterion(model(xb), yb)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    first_x, first_y = dataset[0]
    with torch.no_grad():
        predictions = model(x).squeeze(1).tolist()
    return losses, [], predictions + [float(first_y.item()) + len(dataset)]


# ----- 5. a ResNet made of blocks in a ModuleList ---------------------------------------------------
def resnet_build(lib):
    nn, F = lib.nn, lib.F

    class Block(nn.Module):
        def __init__(self, channels):
            super().__init__()
            self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(channels)
            self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(channels)

        def forward(self, x):
            out = F.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            return F.relu(out + x)

    class ResNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(3, 8, 3, padding=1)
            self.blocks = nn.ModuleList([Block(8) for _ in range(2)])
            self.pool = nn.AdaptiveAvgPool2d((1, 1))
            self.fc = nn.Linear(8, 10)

        def forward(self, x):
            x = F.relu(self.stem(x))
            for block in self.blocks:
                x = block(x)
            return self.fc(self.pool(x).view(x.size(0), -1))

    return ResNet()


def resnet_run(lib, model, data, tmp_path):
    torch, nn, optim = lib.torch, lib.nn, lib.optim
    optimizer = optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4, nesterov=True)
    scheduler = optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=3)
    criterion = nn.CrossEntropyLoss()
    losses = []
    for step in range(3):
        x, y = torch.tensor(data["images"][step * 4:step * 4 + 8]), torch.tensor(data["labels"][step * 4:step * 4 + 8])
        optimizer.zero_grad()
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()
        scheduler.step()
        losses.append(loss.item())
    model.eval()
    with torch.no_grad():
        top = model(torch.tensor(data["images"])).topk(2, dim=1)
    return losses, top.indices.tolist(), [len(list(model.children())), len(model.blocks)]


# ----- 6. fine-tuning: frozen features, a new head, gradient clipping, copy_ under no_grad ------------
def finetune_build(lib):
    nn = lib.nn

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(8, 8, 3),
                                          nn.ReLU())
            self.head = nn.Linear(8 * 13 * 13, 10)

        def forward(self, x):
            return self.head(self.features(x).flatten(1))

    return Model()


def finetune_run(lib, model, data, tmp_path):
    torch, nn, optim = lib.torch, lib.nn, lib.optim
    for param in model.features.parameters():
        param.requires_grad = False
    model.head = nn.Linear(8 * 13 * 13, 4)
    with torch.no_grad():  # a head initialised from given values, as fine-tuning scripts do
        model.head.weight.copy_(torch.tensor(data["head"]))
        model.head.bias.zero_()
    optimizer = optim.SGD(filter(lambda p: p.requires_grad, model.parameters()), lr=0.1)
    criterion = nn.CrossEntropyLoss()
    losses, norms = [], []
    for step in range(3):
        x = torch.tensor(data["images"][step * 4:step * 4 + 4])
        y = torch.tensor(data["labels"][step * 4:step * 4 + 4] % 4)
        optimizer.zero_grad()
        loss = criterion(model(x), y)
        loss.backward()
        norms.append(float(nn.utils.clip_grad_norm_(model.parameters(), max_norm=0.5)))
        optimizer.step()
        losses.append(loss.item())
    frozen = all(p.grad is None for p in model.features.parameters())
    with torch.no_grad():
        predictions = model(torch.tensor(data["images"])).argmax(1).tolist()
    return losses + norms, predictions, frozen


PROGRAMS = {
    "tutorial-classifier": (tutorial_build, tutorial_run),
    "device-agnostic-loop": (agnostic_build, agnostic_run),
    "mnist-example": (mnist_build, mnist_run),
    "tensordataset-pipeline": (pipeline_build, pipeline_run),
    "resnet-modulelist": (resnet_build, resnet_run),
    "fine-tuning": (finetune_build, finetune_run),
}


def _data() -> dict:
    rng = numpy.random.default_rng(0)
    return {"images": rng.standard_normal((12, 3, 32, 32)).astype(numpy.float32),
            "labels": rng.integers(0, 10, 12).astype(numpy.int64),
            "table": rng.standard_normal((10, 5)), "targets": rng.standard_normal(10),
            "head": (rng.standard_normal((4, 8 * 13 * 13)) * 0.05).astype(numpy.float32)}


@pytest.mark.parametrize("name", list(PROGRAMS))
def test_pytorch_program_gives_the_same_numbers_in_convpool(name, tmp_path):
    build, run = PROGRAMS[name]
    data = _data()
    torch.manual_seed(0)
    theirs_lib, ours_lib = _library("torch"), _library("convpool")
    theirs = build(theirs_lib)
    ours = build(ours_lib)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    (tmp_path / "torch").mkdir()
    (tmp_path / "convpool").mkdir()
    their_losses, their_predictions, their_extra = run(theirs_lib, theirs, data, tmp_path / "torch")
    our_losses, our_predictions, our_extra = run(ours_lib, ours, data, tmp_path / "convpool")
    numpy.testing.assert_allclose(our_losses, their_losses, rtol=2e-4, atol=1e-5, err_msg=f"{name}: losses")
    assert our_predictions == their_predictions, f"{name}: predictions"
    numpy.testing.assert_allclose(numpy.asarray(our_extra, dtype=float), numpy.asarray(their_extra, dtype=float),
                                  rtol=2e-4, atol=1e-5, err_msg=f"{name}: results")
