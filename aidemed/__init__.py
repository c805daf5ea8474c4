"""aidemed: train medical image models when expert labels are scarce, noisy or uncertain."""

__version__ = "0.1.0"
