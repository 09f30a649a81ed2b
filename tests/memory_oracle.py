"""A plain NumPy/Python episodic memory: the reference's rule, one entry at a time.

Entries live in a ``deque`` (oldest first) with explicit Python loops over them, as in the
reference (``custom_kernel`` over every stored hidden state). Arithmetic is float64, as in
the reference's float64 buffers; the JAX version works in float32, so results agree to
float32 rounding.

Ties: the reference's ``np.argsort(...)[-k:]`` breaks equal similarities arbitrarily
(quicksort is not stable). Both this oracle and ``hftjax.hyper.memory`` break them by the
*ring slot* of the entry, lowest first, which is ``lax.top_k``'s rule. The ring slot of the
deque's j-th entry (oldest first) is ``(added - len + j) % capacity``, where ``added``
counts every entry ever added: before wrap-around that is j, after it the oldest entry sits
at the write position. The top k is an explicit sort by (-similarity, slot).
"""

from __future__ import annotations

from collections import deque

import numpy as np

EPS = 1e-3


class OracleMemory:
    def __init__(self, capacity: int, k: int = 5):
        self.capacity, self.k = capacity, k
        self.entries: deque = deque(maxlen=capacity)  # dicts, oldest first
        self.added = 0

    def slot(self, j: int) -> int:
        """Ring slot of the j-th entry (oldest first)."""
        return (self.added - len(self.entries) + j) % self.capacity

    def neighbours(self, key) -> list[tuple[float, int, dict]]:
        """(similarity, slot, entry) of the k most similar entries, most similar first."""
        key = np.asarray(key, np.float64)
        scored = []
        for j, entry in enumerate(self.entries):
            d2 = 0.0
            for a, b in zip(key, entry["key"]):
                d2 += (float(a) - float(b)) ** 2
            scored.append((1.0 / (d2 + EPS), self.slot(j), entry))
        scored.sort(key=lambda t: (-t[0], t[1]))
        return scored[: self.k]

    def lookup(self, key, action: int, own_q: float) -> tuple[float, str]:
        """(q_memory, case) with case in {"not_full", "no_match", "match"}."""
        if len(self.entries) < self.capacity:
            return float(own_q), "not_full"
        top = self.neighbours(key)
        total = sum(s for s, _, _ in top)
        weights = [s / total for s, _, _ in top]
        kept = [(w, e["q"]) for w, (_, _, e) in zip(weights, top) if e["action"] == int(action)]
        if not kept:
            return float(own_q), "no_match"
        norm = sum(w for w, _ in kept)
        return sum(w / norm * q for w, q in kept), "match"

    def add(self, key, action, q, row, prev_action) -> None:
        self.entries.append({"key": np.array(key, np.float64), "action": int(action), "q": float(q),
                             "row": int(row), "prev_action": int(prev_action)})
        self.added += 1

    def step(self, key, action, own_q, row, prev_action) -> tuple[float, str]:
        """Query, then add (the reference's order)."""
        out = self.lookup(key, action, own_q)
        self.add(key, action, own_q, row, prev_action)
        return out

    def reencode(self, encode) -> None:
        """Replace every key by ``encode(row, prev_action)``."""
        for entry in self.entries:
            entry["key"] = np.array(encode(entry["row"], entry["prev_action"]), np.float64)


class ReferenceStyleMemory:
    """The reference's layout and loop, for timing: preallocated float64 arrays, one NumPy
    kernel call per stored entry (a Python loop over all ``capacity`` entries), ``argsort``.
    The sort is stable on -similarity, so ties go to the lowest slot as above."""

    def __init__(self, capacity: int, dim: int, k: int = 5):
        self.capacity, self.k = capacity, k
        self.keys = np.zeros((capacity, dim))
        self.actions = np.zeros(capacity)
        self.qs = np.zeros(capacity)
        self.rows = np.zeros(capacity)
        self.prev_actions = np.zeros(capacity)
        self.insert = self.size = 0

    def lookup(self, key, action, own_q) -> float:
        if self.size != self.capacity:
            return float(own_q)
        sims = np.array([1.0 / (np.sum((key - h) ** 2) + EPS) for h in self.keys])
        top = np.argsort(-sims, kind="stable")[: self.k]
        mask = (self.actions[top] == action).astype(float)
        if not mask.any():
            return float(own_q)
        weights = sims[top] / np.sum(sims[top]) * mask
        return float(np.dot(weights / np.sum(weights), self.qs[top]))

    def add(self, key, action, q, row, prev_action) -> None:
        i = self.insert
        self.keys[i], self.actions[i], self.qs[i], self.rows[i], self.prev_actions[i] = key, action, q, row, prev_action
        self.insert = (i + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def step(self, key, action, own_q, row, prev_action) -> float:
        out = self.lookup(key, action, own_q)
        self.add(key, action, own_q, row, prev_action)
        return out
