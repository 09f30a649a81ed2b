"""The test suite (a package, so that benchmarks import its oracles as ``tests.env_oracle``)."""
