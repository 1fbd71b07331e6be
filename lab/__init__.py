"""A simulated Linux fleet over real SSH, for the demo and the tests (see lab/README.md)."""
