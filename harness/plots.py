"""The one way demos and benchmarks get matplotlib: without a display (terminals and CI)."""

from __future__ import annotations


def pyplot():
    """matplotlib.pyplot on the Agg backend, imported only by what draws (it is slow to import)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
