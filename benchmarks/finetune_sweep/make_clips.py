"""Render the clips of one sweep dataset: make_clips.py OUT.npz RADIUS_MIN RADIUS_MAX N_TRAIN."""

import sys

import numpy as np


sys.path.insert(0, "src")
from adamae_hf.data.synthetic import MOTIONS, render_clip


out, r0, r1, ntr = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])


def make(n, split):
    X = np.zeros((n, 16, 64, 64, 3), np.uint8)
    M = np.zeros((n, 16, 64, 64), bool)
    Y = np.arange(n) % 8
    labels = sorted(MOTIONS[:8])
    for i in range(n):
        X[i], M[i] = render_clip(
            np.random.default_rng([99, split, i]), MOTIONS[i % 8], 16, 64, 64, object_radius=(r0, r1)
        )
    Y = np.array([labels.index(MOTIONS[i % 8]) for i in range(n)])
    return X, Y, M


Xtr, Ytr, _ = make(ntr, 0)
Xva, Yva, Mva = make(256, 1)
np.savez(out, Xtr=Xtr, Ytr=Ytr, Xva=Xva, Yva=Yva, Mva=Mva)
