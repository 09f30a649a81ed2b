"""The learner layer the sub-agents, the hyper-agent and the learned baselines share: the Double-DQN
core (``dqn``), the replay ring (``replay``), the networks' shared layers (``layers``), the
optimizer, training statistics, per-member helpers, the host loop over epochs (``loop``) and
checkpoints (``checkpoint``)."""
