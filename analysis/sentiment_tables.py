"""The sentiment model's text normalisation and feature lookups over a whole batch in numpy.

Used by analysis/sentiment.py: no per-character or per-word Python work, no sort of the batch.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from functools import cache

import numpy as np
import numpy.typing as npt

from analysis.batch_words import _within

Codes = npt.NDArray[np.uint32]
Ints = npt.NDArray[np.int64]

_SPACE = re.compile(r"\s+")
SIZE = 0x110000  # code points
_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing (odd, so also a hash base)
_INVERSE = np.uint64(pow(0x9E3779B97F4A7C15, -1, 1 << 64))


def normalize(text: str) -> str:
    """The model's text normalisation: NFKC (full-width to half-width), lower case, runs of
    white space to one space. Tokens handed to `SentimentModel.predict` should come from it."""
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", text).lower()).strip()


def encode(text: str) -> Codes:
    # surrogatepass: a lone surrogate (broken input) is a character like any other, no error.
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)


def decode(codes: Codes) -> str:
    return codes.tobytes().decode("utf-32-le", "surrogatepass")


def distinct(values: Ints) -> Ints:
    """np.unique by a plain sort (np.unique's hashing is slower on large int arrays here)."""
    ordered = np.sort(values)
    keep = np.ones(len(ordered), np.bool_)
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    return ordered[keep]


@cache
def _second_halves() -> frozenset[int]:
    """Characters that are the second of a two-character canonical decomposition, i.e. that
    may compose with the character before them (0.1 s, once)."""
    out = set()
    for code in range(0x20000):  # none beyond (Unicode 15)
        parts = unicodedata.decomposition(chr(code)).split()
        if len(parts) == 2 and not parts[0].startswith("<"):
            out.add(int(parts[1], 16))
    return frozenset(out)


def _may_interact(code: int) -> bool:
    """Whether NFKC may reorder this character or compose it with its neighbour: a combining
    mark, a composable second half, or a Hangul vowel or final jamo."""
    ch = chr(code)
    return unicodedata.combining(ch) != 0 or code in _second_halves() or 0x1160 <= code < 0x1200


# What a code point's NFKC form asks of `normalize_batch` (0: not seen yet).
_SEEN, _SLOW, _LONGER, _RISKY = 1, 2, 4, 8


class _Folding:
    """`normalize` per code point. Each character's NFKC form is computed in Python the first
    time the character is seen (few are new after a few batches) and kept in tables over all
    code points, with the lower case (a space for white space) of the characters it gives. A
    character whose lower case is not one character per character, or depends on its
    neighbours (capital sigma), sends its text to the plain Python `normalize`."""

    def __init__(self) -> None:
        # _SEEN, and _SLOW (plain Python), _LONGER (NFKC gives several characters) or _RISKY
        # (it gives one that may compose with or reorder around its neighbour): one read
        # per character tells what the batch needs.
        self.flags = np.zeros(SIZE, np.uint8)
        self.first = np.zeros(SIZE, np.uint32)  # first character of NFKC(c)
        self.longer: dict[int, Codes] = {}  # the rest of NFKC(c), when it is longer
        self.fold = np.zeros(SIZE, np.uint32)  # for the characters NFKC gives: lower or space

    def see(self, codes: Codes) -> npt.NDArray[np.uint8]:
        """The flags of each code, filling in the codes never seen before."""
        # take, not [codes]: indexing by a uint32 array is much slower (its cast to intp).
        flags = self.flags.take(codes)
        if not flags.all():
            for code in np.unique(codes[flags == 0]).tolist():
                nfkc = unicodedata.normalize("NFKC", chr(code))
                simple = "\u03a3" not in nfkc and all(len(ch.lower()) == 1 for ch in nfkc)
                flag = _SEEN
                if simple:
                    for ch in nfkc:
                        lower = ch.lower()
                        self.fold[ord(ch)] = 32 if _SPACE.match(lower) else ord(lower)
                        if _may_interact(ord(ch)):
                            flag |= _RISKY
                    self.first[code] = ord(nfkc[0])
                    if len(nfkc) > 1:
                        self.longer[code] = encode(nfkc[1:])
                        flag |= _LONGER
                else:
                    flag |= _SLOW
                self.flags[code] = flag
            flags = self.flags.take(codes)
        return flags

    def nfkc(self, raw: Codes, longer: Ints) -> tuple[Codes, Ints]:
        """Each character's own NFKC form, put together, and how many characters each of the
        `longer` ones (positions of _LONGER characters, in order) adds."""
        out = self.first.take(raw)
        if not longer.size:
            return out, longer
        where: list[Ints] = []
        tails: list[Codes] = []
        codes = raw[longer]
        added = np.empty(len(longer), np.int64)
        for code in np.unique(codes).tolist():
            at = np.flatnonzero(codes == code)
            tail = self.longer[code]
            added[at] = len(tail)
            where.append(np.repeat(longer[at] + 1, len(tail)))
            tails.append(np.tile(tail, len(at)))
        return np.insert(out, np.concatenate(where), np.concatenate(tails)), added


_FOLDING = _Folding()


def normalize_batch(texts: Sequence[str], joined: str, lengths: Ints) -> tuple[Codes, Ints]:
    """The code points of `normalize(t)` for every text, concatenated, and their lengths.

    NFKC of a text equals the NFKC of its characters' own NFKC forms put together; when those
    forms together are already NFKC-normalised (they are unless a mark composes or reorders,
    which only texts holding a "risky" character are checked for), that is the text's NFKC.
    Lower case then works character by character.
    """
    raw = encode(joined)
    n = len(lengths)
    flags = _FOLDING.see(raw)
    # Most characters ask for nothing more than their tables (_SEEN alone): the few others
    # are found in one pass, with their texts.
    special = np.flatnonzero(flags != _SEEN)
    kinds = flags[special]
    row_of = np.searchsorted(np.cumsum(lengths), special, side="right")
    slow = np.zeros(n, np.bool_)
    slow[row_of[(kinds & _SLOW) != 0]] = True
    risky = np.unique(row_of[(kinds & _RISKY) != 0]).tolist()
    grows = (kinds & _LONGER) != 0
    nfkc, added = _FOLDING.nfkc(raw, special[grows])
    if added.size:
        lengths = lengths + np.bincount(row_of[grows], added, n).astype(np.int64)
    bounds = np.cumsum(lengths)  # where each text's NFKC form ends
    starts = bounds - lengths
    if risky:  # a text with marks that may compose or reorder: is it normalised as it is?
        text = decode(nfkc)
        for row in risky:
            if not unicodedata.is_normalized("NFKC", text[starts[row] : bounds[row]]):
                slow[row] = True
    folded = _FOLDING.fold.take(nfkc)
    space = folded == 32
    # Runs of white space become one space; a space at the start of a text counts as
    # following one (so it goes), and a text's last space goes after the collapse.
    after_space = np.ones(len(nfkc), np.bool_)
    after_space[1:] = space[:-1]
    after_space[starts[starts < len(nfkc)]] = True
    keep = ~(space & after_space)
    codes = folded[keep]
    kept = np.zeros(len(keep) + 1, np.int64)  # the characters kept before each place
    np.cumsum(keep, out=kept[1:])
    out_lengths = kept[bounds] - kept[starts]
    ends = np.cumsum(out_lengths) - 1
    trailing = (out_lengths > 0) & (codes[ends] == 32) if len(codes) else out_lengths < 0
    if trailing.any():
        codes = np.delete(codes, ends[trailing])
        out_lengths -= trailing
    if slow.any():  # rare: those texts get Python's own normalisation, spliced in
        bounds = np.cumsum(out_lengths).tolist()
        pieces: list[Codes] = []
        done = 0
        for row in np.flatnonzero(slow).tolist():
            start = bounds[row - 1] if row else 0
            ours = encode(normalize(texts[row]))
            pieces += [codes[done:start], ours]
            done = bounds[row]
            out_lengths[row] = len(ours)
        codes = np.concatenate([*pieces, codes[done:]])
    return codes, out_lengths


class HashTable:
    """Int64 keys to int64 values, looked up for a whole array of keys at once: each hash
    bucket holds its first key and value (one read finds most keys); the other keys of the
    few buckets with more are kept apart, sorted by bucket, and probed in a short loop."""

    def __init__(self, keys: Ints, values: Ints) -> None:
        """Within a bucket the keys keep the order given: give the likeliest asked first."""
        ordered = np.sort(keys)
        if (ordered[1:] == ordered[:-1]).any():
            raise ValueError("hash table keys must be distinct")
        bits = max(4, len(keys).bit_length() + 1)  # about 2 buckets per key: few share one
        self._shift = np.uint64(64 - bits)
        home = self._slot(keys)
        order = np.argsort(home, kind="stable")
        home = home[order]
        head = np.ones(len(order), np.bool_)
        head[1:] = home[1:] != home[:-1]
        # One row per bucket, key then value: a probe reads both in one go. An empty bucket
        # answers -1 for any key (a key of that bucket is not in the table).
        self._heads = np.zeros((1 << bits, 2), np.int64)
        self._heads[:, 1] = -1
        self._heads[home[head], 0] = keys[order[head]]
        self._heads[home[head], 1] = values[order[head]]
        rest = order[~head]
        self._rest = np.stack([keys[rest], values[rest]], axis=1)
        first = np.searchsorted(home[~head], np.arange((1 << bits) + 1))
        # Each bucket's first row in `_rest` and its number of rows there, read together.
        self._more = np.stack([first[:-1], np.diff(first)], axis=1).astype(np.int32)

    def _slot(self, keys: Ints) -> Ints:
        mixed = np.ascontiguousarray(keys).view(np.uint64) * _MULTIPLIER  # wraps: the hash
        return (mixed >> self._shift).view(np.int64)

    def find(self, keys: Ints) -> Ints:
        """The value of each key, -1 where it is not in the table."""
        bucket = self._slot(keys)
        rows = np.take(self._heads, bucket, axis=0)  # several times faster than [bucket]
        hit = rows[:, 0] == keys
        out = np.where(hit, rows[:, 1], -1)
        going = np.flatnonzero(~hit)
        more = np.take(self._more, bucket[going], axis=0)
        crowded = more[:, 1] > 0
        going, at, left = going[crowded], more[crowded, 0], more[crowded, 1]
        while going.size:
            rows = np.take(self._rest, at, axis=0)
            hit = rows[:, 0] == keys[going]
            out[going[hit]] = rows[hit, 1]
            on = ~hit & (left > 1)
            going, at, left = going[on], at[on] + 1, left[on] - 1
        return out


class _Powers:
    """Powers of the hash base and of its inverse mod 2**64, grown as batches need."""

    def __init__(self) -> None:
        self.up = np.ones(1, np.uint64)
        self.down = np.ones(1, np.uint64)

    def get(self, n: int) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64]]:
        if len(self.up) < n:
            size = max(n, 2 * len(self.up))
            up = np.full(size, _MULTIPLIER)
            up[0] = 1
            down = np.full(size, _INVERSE)
            down[0] = 1
            self.up, self.down = np.cumprod(up), np.cumprod(down)  # wrap mod 2**64
        return self.up[:n], self.down[:n]


_POWERS = _Powers()


def _substring_keys(codes: Codes, starts: Ints, lengths: Ints) -> Ints:
    """A polynomial hash (mod 2**64) of each substring: sum of (code + 1) * base**k over its
    characters k. Short substrings sum character by character; else by prefix sums over all
    the codes, the difference scaled back by base**-start (the same number)."""
    longest = int(lengths.max()) if len(lengths) else 0
    up, down = _POWERS.get(max(len(codes), longest) + 1)
    if longest <= 16 or longest * len(starts) <= len(codes):
        hashed = np.zeros(len(starts), np.uint64)
        last = len(codes) - 1
        for k in range(longest):
            code = codes[np.minimum(starts + k, last)].astype(np.uint64) + np.uint64(1)
            hashed += np.where(lengths > k, code * up[k], np.uint64(0))
    else:
        prefix = np.zeros(len(codes) + 1, np.uint64)
        np.cumsum((codes.astype(np.uint64) + np.uint64(1)) * up[: len(codes)], out=prefix[1:])
        hashed = (prefix[starts + lengths] - prefix[starts]) * down[starts]
    keys: Ints = (hashed + lengths.astype(np.uint64) * _MULTIPLIER).view(np.int64)
    return keys


def _packed(codes: Codes, starts: Ints, lengths: Ints) -> Ints:
    """Substrings of 1 to 3 characters as exact integer keys: 21 bits per code point + 1."""
    padded = np.zeros(len(codes) + 2, np.int64)  # reading past the end gives 0
    np.add(codes, 1, out=padded[: len(codes)], casting="unsafe")
    keys = padded[starts]
    keys |= np.where(lengths >= 2, padded[starts + 1] << 21, 0)
    keys |= np.where(lengths >= 3, padded[starts + 2] << 42, 0)
    return keys


class Strings:
    """Exact lookup of many substrings of one code array at once. One character (most words
    of a cut) is read from an array over the code points; 2 or 3 characters are their code
    points as a key; longer ones are found by a hash and confirmed by comparing their code
    points (no hash collision can change a result)."""

    def __init__(self, strings: list[str], values: Ints) -> None:
        lengths = np.fromiter(map(len, strings), np.int64, len(strings))
        flat = encode("".join(strings))
        offsets = np.cumsum(lengths) - lengths
        one = np.flatnonzero(lengths == 1)
        # value + 1, 0 for none: zeros are not written, so only pages in use take memory
        self._single = np.zeros(SIZE, np.int64)
        self._single[flat[offsets[one]]] = values[one] + 1
        short = np.flatnonzero((lengths == 2) | (lengths == 3))
        self._short = HashTable(_packed(flat, offsets[short], lengths[short]), values[short])
        long = np.flatnonzero(lengths > 3)
        self._lengths, self._values = lengths[long], values[long]
        self._flat = encode("".join(strings[i] for i in long.tolist()))
        self._offsets = np.cumsum(self._lengths) - self._lengths
        keys = _substring_keys(self._flat, self._offsets, self._lengths)
        # Two of the model's long strings with one hash (about 1e-12 here) cannot share a
        # key: refuse rather than answer wrongly.
        self._long = HashTable(keys, np.arange(len(long), dtype=np.int64))

    def find(self, codes: Codes, starts: Ints, lengths: Ints) -> Ints:
        """The value of each substring codes[start:start + length], -1 if it is not known."""
        out = np.full(len(starts), -1, np.int64)
        one = np.flatnonzero(lengths == 1)
        out[one] = self._single.take(codes[starts[one]]) - 1
        short = np.flatnonzero((lengths == 2) | (lengths == 3))
        if short.size:
            out[short] = self._short.find(_packed(codes, starts[short], lengths[short]))
        long = np.flatnonzero(lengths > 3)
        if not long.size:
            return out
        index = self._long.find(_substring_keys(codes, starts[long], lengths[long]))
        found = np.flatnonzero(index >= 0)
        found = found[self._lengths[index[found]] == lengths[long[found]]]
        size = lengths[long[found]]
        step = _within(size)
        theirs = codes[np.repeat(starts[long[found]], size) + step]
        ours = self._flat[np.repeat(self._offsets[index[found]], size) + step]
        wrong = np.repeat(np.arange(len(found)), size)[theirs != ours]
        good = np.ones(len(found), np.bool_)
        good[wrong] = False
        out[long[found[good]]] = self._values[index[found[good]]]
        return out
