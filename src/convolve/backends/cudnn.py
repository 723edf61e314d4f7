"""``convolve.backends.cudnn``: cuDNN's switches as no-ops (there is no cuDNN on the CPU)."""

benchmark = False  # no-op: convolve picks its conv engine by its own plan
deterministic = False  # no-op: CPU results are already deterministic for a seed
enabled = True  # no-op
allow_tf32 = True  # no-op


def is_available() -> bool:
    return False


def version():
    return None
