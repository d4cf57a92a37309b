"""MinHash signatures over character bigrams, in numpy: one text (``sign``) or a batch's texts
in one pass (``sign_segments``), for repost folding (analysis/folding.py)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

# Hash functions applied together in Signer.sign_segments: 8 x 16,384 hashes fill 1 MB.
_ROWS_AT_ONCE = 8


class Signer:
    """MinHash signatures over character bigrams with multiply-shift hashing in numpy."""

    def __init__(self, num_perm: int, seed: int) -> None:
        rng = np.random.default_rng(seed)
        # Odd multipliers make (a*x + b) mod 2^64 a universal family; the high 32 bits are kept.
        self._a = (rng.integers(0, 2**63, num_perm, dtype=np.uint64) << np.uint64(1)) | np.uint64(1)
        self._b = rng.integers(0, 2**63, num_perm, dtype=np.uint64)
        self._a = self._a.reshape(-1, 1)
        self._b = self._b.reshape(-1, 1)

    def shingles(self, codes: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
        # A bigram of two code points (each < 2^21) packed into one integer: no hashing needed.
        return (codes[:-1] << np.uint64(21)) | codes[1:]

    def sign(self, shingles: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint32]:
        hashed: npt.NDArray[np.uint64] = self._a * shingles[np.newaxis, :]
        hashed += self._b
        # The shift is monotone, so it can follow the min: one row instead of a matrix.
        lowest: npt.NDArray[np.uint64] = hashed.min(axis=1)
        return (lowest >> np.uint64(32)).astype(np.uint32)

    def sign_segments(
        self, shingles: npt.NDArray[np.uint64], starts: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.uint32]:
        """``sign`` of each run of shingles beginning at ``starts`` (none empty), one per row.
        The texts go in groups of about 16,000 shingles, and the hash functions 8 at a time,
        through one reused 1 MB buffer: the three passes over it (multiply, add, least) then
        stay in the core's cache. A group's whole 64 x 16,000 matrix (8 MB) went to memory and
        back each pass, and a batch's (30 MB) would be allocated and faulted in as well."""
        out = np.empty((len(starts), len(self._a)), dtype=np.uint32)
        bounds = np.append(starts, len(shingles))
        groups = np.unique(
            np.append(np.searchsorted(bounds, np.arange(0, len(shingles), 16384)), len(starts))
        )
        groups = groups[groups <= len(starts)]
        widest = int(np.max(bounds[groups[1:]] - bounds[groups[:-1]])) if len(groups) > 1 else 0
        buffer = np.empty(_ROWS_AT_ONCE * widest, dtype=np.uint64)
        for first, last in zip(groups[:-1].tolist(), groups[1:].tolist(), strict=True):
            lo, hi = int(bounds[first]), int(bounds[last])
            runs = starts[first:last] - lo
            for row in range(0, len(self._a), _ROWS_AT_ONCE):
                a = self._a[row : row + _ROWS_AT_ONCE]
                hashed = buffer[: len(a) * (hi - lo)].reshape(len(a), hi - lo)
                np.multiply(a, shingles[lo:hi], out=hashed)
                hashed += self._b[row : row + _ROWS_AT_ONCE]
                lowest = np.minimum.reduceat(hashed, runs, axis=1)
                lowest >>= np.uint64(32)  # the shift is monotone, so it can follow the min
                out[first:last, row : row + len(a)] = lowest.T
        return out
