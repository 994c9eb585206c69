"""Helpers shared by the attack and attribution tests: one thread for tiny tensors, a tiny CNN on real digits."""

import contextlib
from typing import Iterator

import torch
import torch.nn as nn
import torch.nn.functional as F

from robinterp.models.architectures import Classifier


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """One intra-op thread (faster for tiny tensors on a busy 2-core machine); the count is restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def tiny_cnn() -> Classifier:
    """Two stride-2 conv+BatchNorm layers and a linear head, wrapped like the package's models
    (normalisation inside, pixel-space input), for 1×28×28 digits."""
    trunk = nn.Sequential(
        nn.Conv2d(1, 8, 3, 2, 1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
        nn.Conv2d(8, 16, 3, 2, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
        nn.Flatten(),
    )
    return Classifier(trunk, nn.Linear(16 * 7 * 7, 10), mean=[0.1307], std=[0.3081])


def train_tiny_cnn(x: torch.Tensor, y: torch.Tensor, n_train: int) -> Classifier:
    """A :func:`tiny_cnn` after 2 epochs of Adam (lr 3e-3, batches of 50) on ``x[:n_train]``, in eval mode.

    Seeds torch's global generator with 0 first (callers that must not touch it wrap the call
    in ``torch.random.fork_rng()``).
    """
    torch.manual_seed(0)
    model = tiny_cnn()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(2):
        perm = torch.randperm(n_train)
        for i in range(0, n_train, 50):
            idx = perm[i:i + 50]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    opt.zero_grad(set_to_none=True)
    return model
