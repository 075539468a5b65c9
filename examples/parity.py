"""End to end on built-in data: train SimpleCNN on scikit-learn's digits in PyTorch, save, load in Keras, compare.

Run: .venv/bin/python examples/parity.py
"""

from __future__ import annotations

import tempfile
import time

import numpy as np
import torch
from sklearn.datasets import load_digits

import zoo_core as zoo
from zoo_core import backends

t0 = time.time()
digits = load_digits()
x = (digits.images.astype(np.float32) / 16.0 - 0.5) / 0.5  # 8x8 grayscale digits, 1,797 real images
y = digits.target
rng = np.random.default_rng(0)
order = rng.permutation(len(x))
train, test = order[:1400], order[1400:]

model = zoo.load("simplecnn", framework="torch", input_size=8, widths=[16, 32], hidden=64)
torch.manual_seed(0)
opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
xt = torch.from_numpy(x[:, None])
yt = torch.from_numpy(y).long()
for _epoch in range(8):
    model.train()
    for i in range(0, len(train), 64):
        idx = train[i:i + 64]
        loss = torch.nn.functional.cross_entropy(model(xt[idx]), yt[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()

with tempfile.TemporaryDirectory() as tmp:
    zoo.save(model, f"{tmp}/digits", labels=[str(i) for i in range(10)])
    keras_model = zoo.load(f"{tmp}/digits", framework="keras")

batch = x[test][:, None]
logits_pt = backends.get("torch").predict(model, batch)
logits_tf = backends.get("tf").predict(keras_model, batch.transpose(0, 2, 3, 1))
acc_pt = float((logits_pt.argmax(1) == y[test]).mean())
acc_tf = float((logits_tf.argmax(1) == y[test]).mean())
print(f"test accuracy: torch {acc_pt:.3f}, keras {acc_tf:.3f} on {len(test)} held-out digits")
print(f"max |Δlogits| torch vs keras: {np.abs(logits_pt - logits_tf).max():.2e}")
print(f"done in {time.time() - t0:.1f} s")
