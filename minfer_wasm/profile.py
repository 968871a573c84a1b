"""Where a decoded token's time goes: seconds in matrix products, by the path each takes.

Off unless a turn asks for a profile (the page's generate {profile: true}); while it runs,
model.py times every product and files it under its tensor's `path` ("kernel": the compiled
kernels; "numpy": a tensor on the numpy path, e.g. a type the kernels do not cover).
"""

from __future__ import annotations

import time


class ProductClock:
    """Seconds spent in matrix products per path, counted only between start() and stop()."""

    def __init__(self):
        self.running = False
        self.seconds = {"kernel": 0.0, "numpy": 0.0}

    def start(self) -> None:
        self.seconds = dict.fromkeys(self.seconds, 0.0)
        self.running = True

    def stop(self) -> None:
        self.running = False

    def timed(self, path: str, product, *args) -> None:
        t0 = time.perf_counter()
        product(*args)
        self.seconds[path] += time.perf_counter() - t0


CLOCK = ProductClock()
