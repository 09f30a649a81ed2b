"""Experiments on learning quality: ablations, real markets, walk-forward windows, levers and settings."""
