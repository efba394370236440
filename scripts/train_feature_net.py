#!/usr/bin/env python
"""Train the ``fmnist`` feature network that ganforge's metrics use, deterministically.

    python scripts/train_feature_net.py            # writes src/ganforge/metrics/weights/fmnist_cnn.safetensors

Same seed, same threads, same data -> the same weights, bit for bit, on the same
machine and torch version. The script prints the test accuracy (target >= 93%) and
the SHA-256 that src/ganforge/metrics/fmnist_net.py must record.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from ganforge.config import DataConfig
from ganforge.data import load_images
from ganforge.metrics.fmnist_net import MEAN, STD, WEIGHTS, FashionCNN, sha256_of


def normalize(images: torch.Tensor) -> torch.Tensor:
    return (images.float() / 255.0 - MEAN) / STD


def load_labels(split: str, root: str):
    from ganforge.data.idx import IDX_SETS, read_idx

    folder = Path(root or IDX_SETS["fashion-mnist"]["debian"])
    name = {"train": "train-labels-idx1-ubyte.gz", "test": "t10k-labels-idx1-ubyte.gz"}[split]
    return torch.from_numpy(read_idx(folder / name).astype("int64"))


@torch.no_grad()
def accuracy(net: FashionCNN, images: torch.Tensor, labels: torch.Tensor) -> float:
    net.eval()
    correct = 0
    for i in range(0, len(images), 1000):
        _, logits = net(normalize(images[i:i + 1000]))
        correct += (logits.argmax(1) == labels[i:i + 1000]).sum().item()
    return correct / len(images)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--root", default="", help="folder with the Fashion-MNIST IDX files (default: Debian's)")
    p.add_argument("--out", default=str(WEIGHTS))
    args = p.parse_args()

    torch.manual_seed(args.seed)
    torch.set_num_threads(2)
    torch.use_deterministic_algorithms(True)
    x_train = load_images(DataConfig(name="fashion-mnist", root=args.root, download=False))
    y_train = load_labels("train", args.root)
    x_test = load_images(DataConfig(name="fashion-mnist", split="test", root=args.root, download=False))
    y_test = load_labels("test", args.root)
    print(f"train pixel mean {x_train.float().mean() / 255:.4f} std {x_train.float().std() / 255:.4f}")

    net = FashionCNN()
    opt = torch.optim.AdamW(net.parameters(), lr=2e-3, weight_decay=5e-4)
    steps = args.epochs * (len(x_train) // args.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=steps)
    g = torch.Generator().manual_seed(args.seed)
    t0 = time.time()
    for epoch in range(args.epochs):
        net.train()
        order = torch.randperm(len(x_train), generator=g)
        for i in range(len(x_train) // args.batch_size):
            idx = order[i * args.batch_size:(i + 1) * args.batch_size]
            x = normalize(x_train[idx])
            # augmentation: horizontal flips only (garments are left-right symmetric; shifts hurt here)
            flip = torch.rand(len(x), generator=g) < 0.5
            x = torch.where(flip[:, None, None, None], x.flip(-1), x)
            _, logits = net(x)
            loss = F.cross_entropy(logits, y_train[idx], label_smoothing=0.05)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        print(f"epoch {epoch + 1}: loss {loss.item():.3f}  test accuracy {accuracy(net, x_test, y_test):.4f}"
              f"  ({time.time() - t0:.0f} s)")
    acc = accuracy(net, x_test, y_test)
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, args.out)
    print(f"test accuracy {acc:.4f}; wrote {args.out}\nSHA-256 {sha256_of(Path(args.out))}")
    if acc < 0.93:
        raise SystemExit(f"accuracy {acc:.4f} is below the 0.93 target")


if __name__ == "__main__":
    main()
