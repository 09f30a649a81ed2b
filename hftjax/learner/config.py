"""The options every Q-learner here shares (rejax-style: one declaration, each field's role
declared with ``option``): the sub-agents' and the hyper-agent's configs extend ``LearnerConfig``
with their own fields, and one of them changes a shared default by declaring that field again (its
place in the field order stays the base's, so the order member keys fold traced values in is
unchanged). The learned baselines run with the sub-agents' options.
"""

from __future__ import annotations

import dataclasses

from hftjax.options import HOST, TRACED, Rule, check, check_fields, option, role

# jax.random.key keeps a seed's low 32 bits (x64 off) and overflows on one of 64: seeds 2^32 apart
# would be one member, so seeds lie in [0, 2^32), where distinct means distinct keys
SEED_LIMIT = 2**32

# (predicate on the value, what is allowed) for the options both agents share
LEARNER_RULES: dict[str, Rule] = {
    "epochs": (lambda v: v >= 1, "an integer >= 1"),
    "steps_per_iteration": (lambda v: v >= 1, "an integer >= 1"),
    "updates_per_iteration": (lambda v: v >= 0, "an integer >= 0"),
    "batch_size": (lambda v: v >= 1, "an integer >= 1"),
    "learning_starts": (lambda v: v >= 0, "an integer >= 0"),
    "hidden": (lambda v: v >= 1, "an integer >= 1"),
    "grad_clip": (lambda v: v > 0, "a number > 0"),
    "lr": (lambda v: v > 0, "a number > 0"),
    "gamma": (lambda v: 0 < v <= 1, "a number in (0, 1]"),
    "tau": (lambda v: 0 < v <= 1, "a number in (0, 1]"),
    "epsilon_start": (lambda v: 0 <= v <= 1, "a number in [0, 1]"),
    "epsilon_end": (lambda v: 0 <= v <= 1, "a number in [0, 1]"),
    "epsilon_decay_epochs": (lambda v: v >= 0, "a number >= 0"),
    "seeds": (lambda v: len(v) >= 1 and len(set(v)) == len(v) and 0 <= min(v) and max(v) < SEED_LIMIT,
              "a non-empty list of distinct integers in [0, 2^32), e.g. [0,1,2]"),
    "warn_loss_above": (lambda v: v > 0, "a number > 0"),
}


@dataclasses.dataclass(frozen=True)
class LearnerConfig:
    epochs: int = option(15, HOST)
    steps_per_iteration: int = option(100)       # env steps per episode slot between update bursts
    updates_per_iteration: int = option(10)
    batch_size: int = option(512)
    buffer_size: int = option(1_000_000)
    learning_starts: int = option(513)           # updates start once more transitions than this are stored
    hidden: int = option(64)
    grad_clip: float = option(1.0)
    warn_loss_above: float = option(1e6, HOST)   # a mean epoch loss above this warns (non-finite stops training)
    # per-member hyper-parameters (pytree leaves: one compile covers a sweep)
    lr: float = option(1e-4, TRACED)
    gamma: float = option(0.99, TRACED)
    tau: float = option(0.005, TRACED)
    seeds: tuple[int, ...] = option((0,), HOST)

    def check(self, rules: dict[str, Rule]) -> None:
        """Coerce and check every field (``rules``: the shared ones and the agent's own)."""
        check_fields(self, rules)
        check("buffer_size", self.buffer_size, lambda v: v >= self.batch_size,
              f"an integer >= batch_size ({self.batch_size})")

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


def traced_names(config) -> tuple[str, ...]:
    """A config's per-member hyper-parameters, in field order (the order member keys fold them in)."""
    return tuple(f.name for f in dataclasses.fields(config) if role(f) == TRACED)
