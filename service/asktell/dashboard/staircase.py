"""A two-cost Pareto front (both minimized) that tells how much area each new point adds.

Points are kept sorted by the first cost, so the second strictly decreases: a staircase.
They sit in blocks of at most 2 * BLOCK points, so adding a point moves a block's worth of
entries at most, however large the front grows.
"""

from __future__ import annotations

import bisect

__all__ = ["BLOCK", "Staircase"]

BLOCK = 256


class Staircase:
    """The non-dominated points seen so far inside the box below `ref`, and their area."""

    def __init__(self, ref_x: float, ref_y: float):
        self.rx, self.ry = ref_x, ref_y
        self.xs: list[list[float]] = []
        self.ys: list[list[float]] = []
        self.heads: list[float] = []
        self.area = 0.0

    def __len__(self) -> int:
        return sum(map(len, self.xs))

    def add(self, a: float, b: float) -> float:
        """Add the point (a, b); returns the area it adds (0 when it is dominated or not
        strictly inside the box)."""
        if not (a < self.rx and b < self.ry):
            return 0.0
        bi = bisect.bisect_right(self.heads, a) - 1
        if bi < 0:
            if not self.xs:
                self.xs, self.ys, self.heads = [[a]], [[b]], [a]
                self.area = (self.rx - a) * (self.ry - b)
                return self.area
            bi, i, height = 0, 0, self.ry
        else:
            i = bisect.bisect_right(self.xs[bi], a)
            height = self.ys[bi][i - 1]
            if height <= b:
                return 0.0
        start = i - 1 if i and self.xs[bi][i - 1] == a else i  # a point at x == a goes too
        added, x = 0.0, a
        cb, ci = bi, i
        while True:  # the points right of a that are not below b are dominated: take them out
            ys = self.ys[cb]
            while ci < len(ys) and ys[ci] >= b:
                added += (self.xs[cb][ci] - x) * (height - b)
                x, height = self.xs[cb][ci], ys[ci]
                ci += 1
            if ci < len(ys) or cb + 1 == len(self.ys):
                break
            cb, ci = cb + 1, 0
        following = self.xs[cb][ci] if ci < len(self.xs[cb]) else self.rx
        added += (following - x) * (height - b)
        self._replace(bi, start, cb, ci, a, b)
        self.area += added
        return added

    def _replace(self, bi: int, start: int, cb: int, ci: int, a: float, b: float) -> None:
        """Put (a, b) in place of the points from (bi, start) up to, not including, (cb, ci)."""
        if cb == bi:
            self.xs[bi][start:ci] = [a]
            self.ys[bi][start:ci] = [b]
        else:
            self.xs[bi][start:] = [a]
            self.ys[bi][start:] = [b]
            del self.xs[cb][:ci], self.ys[cb][:ci]
            del self.xs[bi + 1 : cb], self.ys[bi + 1 : cb], self.heads[bi + 1 : cb]
            nxt = bi + 1
            if self.xs[nxt]:
                self.heads[nxt] = self.xs[nxt][0]
            else:
                del self.xs[nxt], self.ys[nxt], self.heads[nxt]
        self.heads[bi] = self.xs[bi][0]
        if len(self.xs[bi]) > 2 * BLOCK:
            xs, ys = self.xs[bi], self.ys[bi]
            self.xs[bi : bi + 1] = [xs[:BLOCK], xs[BLOCK:]]
            self.ys[bi : bi + 1] = [ys[:BLOCK], ys[BLOCK:]]
            self.heads[bi : bi + 1] = [xs[0], xs[BLOCK]]
