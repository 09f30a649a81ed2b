"""Throughput and scale: how fast the env, the learners and the whole pipeline run."""
