"""The batch cut: a batch of normalised texts cut by rjieba in one call (one more for the alias
guard), each text's words and offsets then slices of it; jieba only for the blocks that need it."""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from functools import lru_cache
from itertools import accumulate, chain, compress, count, pairwise
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from analysis.segment_dict import (
    _BLOCK,
    _HAN,
    _PUNCT_RUN,
    _as_it_stands,
    _base_dictionary,
    _Dictionary,
    _guard,
    _holds_any,
    _is_word,
    _piece_singles,
    _run_alone,
    _words_mask,
)
from analysis.segment_layout import (
    ASCII,
    DIGIT,
    MARK,
    OTHER,
    PUNCT,
    RUN,
    SIMPLE,
    char_classes,
    failing_runs,
    guard_suspects,
    layout,
    own_words,
)

if TYPE_CHECKING:
    from analysis.segment import Segmenter

Cut = tuple[list[str], list[int]]

# Joins the texts of a batch for one rjieba call: not a block character, so jieba's cut of the
# joined text is each text's cut with a "\x00" token between (jieba cuts blocks apart).
_SEP = "\x00"
# Stands in for a block that jieba must cut itself (a repeat, a run joining digits, _ or A-Z)
# or for a letter outside jieba's blocks (kana, ①, Han beyond jieba's range): not a block
# character either, so the rest of the text is cut as before; the hole is filled afterwards.
_HOLE = "\x02"
_CONTROLS = re.compile("[\x00-\x02]")
# Not in a block of jieba's (its runs marked): blocks are the stretches the guard compares.
_NOT_BLOCK = re.compile(f"[^{_HAN}a-zA-Z0-9+#&._%\\-\x01]")


class _Form(NamedTuple):
    """What rjieba cuts in the batch for a text that is not cut as it stands."""

    cut: str  # the holed text with its runs marked
    holed: str  # the text, each hole one _HOLE (its runs are read here when unmarking)
    holes: tuple[str, ...]  # what each hole stands for, in order


def _marked(text: str, kept: Sequence[tuple[int, int]] = ()) -> str:
    """Each character of a run of + # & . _ % - (what _PUNCT_RUN finds) made a mark, but for
    the runs at ``kept`` (spans): seven replaces in C (translate looks each character up in a
    dict, ten times slower here)."""
    marked = text
    for char in "+#&._%-":
        marked = marked.replace(char, MARK)
    for lo, hi in kept:
        marked = f"{marked[:lo]}{text[lo:hi]}{marked[hi:]}"
    return marked


def _repeat_starts(codes: np.ndarray, classes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where a piece of one to three Han, a-z or 0-9 characters is repeated three times in a
    row (哈哈哈, 000, 非常差非常差非常差): the back-reference regex, in numpy; and whether
    each piece is of digits only."""
    simple = classes & SIMPLE > 0
    digit = classes & DIGIT > 0
    found, digits_only = [], []
    for period in (1, 2, 3):
        span = 3 * period
        if len(codes) < span:
            break
        # codes[i + k] == codes[i + k + period] for k < 2 * period: three copies from i.
        same = codes[period:] == codes[:-period]
        hit = simple[: len(codes) - span + 1].copy()
        all_digits = digit[: len(codes) - span + 1].copy()
        for k in range(1, period):
            hit &= simple[k : len(codes) - span + 1 + k]
            all_digits &= digit[k : len(codes) - span + 1 + k]
        for k in range(2 * period):
            hit &= same[k : len(codes) - span + 1 + k]
        found.append(np.flatnonzero(hit))
        digits_only.append(all_digits[found[-1]])
    if not found:
        return np.zeros(0, dtype=np.intp), np.zeros(0, dtype=bool)
    return np.concatenate(found), np.concatenate(digits_only)


# Offsets in a text of its repeats, its other word characters, its runs that join digits and
# its bridges (``_BRIDGE``).
_Troubles = tuple[list[int], list[int], list[int], list[int]]


def _troubles(
    texts: list[str], digit_words: frozenset[str] | None = None, run_chars: str = "+#&.%-"
) -> dict[int, _Troubles]:
    """The texts (by index) holding one of ``run_chars`` (the dictionary's ``punct_chars``,
    which a word like c++ needs) or something rjieba may not cut as it stands, each with the
    offsets of its repeats, of its other word characters, of its runs that join digits and of
    its bridges (``_BRIDGE``); with none of these, its runs stand as they are. A repeat of
    digits only counts in a text holding one of ``digit_words`` (``_Dictionary.may_tie``;
    None: always). One pass over the batch in numpy instead of a regex per text."""
    joined = _SEP.join(texts)
    codes = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32)
    classes = char_classes(codes)
    firsts = np.array([0, *accumulate(len(t) + 1 for t in texts[:-1])], dtype=np.intp)
    repeats, digits_only = _repeat_starts(codes, classes)
    if digit_words is not None and digits_only.any():
        owners = np.searchsorted(firsts, repeats, side="right") - 1
        tied = [
            k for k in np.unique(owners[digits_only]).tolist() if _holds_any(texts[k], digit_words)
        ]
        repeats = repeats[~digits_only | np.isin(owners, tied)]
    others = np.flatnonzero(classes & OTHER)
    runs = np.flatnonzero(classes & RUN)  # run_chars is some of these: look only at them
    runs = runs[np.isin(codes[runs], [ord(char) for char in run_chars])]
    out: dict[int, _Troubles] = {}
    for k in np.unique(np.searchsorted(firsts, runs, side="right") - 1).tolist():
        out[k] = ([], [], [], [])
    troubles = (repeats, others, _joining(codes, classes), _bridges(codes, classes))
    for slot, found in enumerate(troubles):
        owners = np.searchsorted(firsts, found, side="right") - 1
        for k, at in zip(owners.tolist(), (found - firsts[owners]).tolist(), strict=True):
            out.setdefault(k, ([], [], [], []))[slot].append(at)
    return out


def _joining(codes: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Where a run of + # & . _ % - starts that joins digits (``joins_digits``: 5.1, 100%)."""
    run = np.zeros(len(codes) + 2, dtype=bool)  # code i at i + 1, padded both sides
    run[1:-1] = classes & PUNCT > 0
    ascii_alnum = np.zeros(len(codes) + 2, dtype=bool)
    ascii_alnum[1:-1] = classes & ASCII > 0
    heads = np.flatnonzero(run[1:-1] & ~run[:-2] & ascii_alnum[:-2])  # after a letter or digit
    percent = heads[codes[heads] == 0x25]
    # A run that is one "." and a digit after it (str.isdigit: looked at one by one).
    dots = heads[(codes[heads] == 0x2E) & ~run[heads + 2]].tolist()
    digit = [at for at in dots if at + 1 < len(codes) and chr(codes[at + 1]).isdigit()]
    return np.sort(np.concatenate((percent, np.array(digit, dtype=np.intp))))


def _bridges(codes: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Where a . _ or - stands between two ASCII letters or digits (``_BRIDGE``)."""
    ascii_alnum = np.zeros(len(codes) + 2, dtype=bool)  # code i at i + 1, padded both sides
    ascii_alnum[1:-1] = classes & ASCII > 0
    connector = (codes == 0x2E) | (codes == 0x5F) | (codes == 0x2D)
    return np.flatnonzero(connector & ascii_alnum[:-2] & ascii_alnum[2:])


def _form(dictionary: _Dictionary, text: str, troubles: _Troubles) -> _Form | None:
    """The text as the batch cuts it: a hole for each block holding a repeat, a run that joins
    digits (5.1, 100%) unless it stands as it is (``_as_it_stands``), _ or A-Z, and for each
    other word character outside blocks (the offsets ``_troubles`` found); the runs of
    + # & . _ % - that do not stand as they are marked. None (cut on its own) if it holds a
    word like c++."""
    if dictionary.holds_punct_word(text):
        return None
    repeats, others, joining, bridges = troubles
    if not (repeats or others or joining or bridges):
        return _Form(text, text, ())  # no run's stretch holds a bridge: each stands as it is
    kept = [run.span() for run in _PUNCT_RUN.finditer(text) if _as_it_stands(text, *run.span())]
    if not (repeats or others or set(joining).difference(lo for lo, _ in kept)):
        return _Form(_marked(text, kept), text, ())
    blocks = [m.span() for m in _BLOCK.finditer(text)]
    block_starts = [lo for lo, _ in blocks]
    spans = set()
    kept_starts = {lo for lo, _ in kept}
    for at in chain(repeats, others, (at for at in joining if at not in kept_starts)):
        k = bisect_right(block_starts, at) - 1
        spans.add(blocks[k] if k >= 0 and at < blocks[k][1] else (at, at + 1))
    pieces: list[str] = []
    holes: list[str] = []
    at = 0
    # (where a hole ends in text, how far the holed text is behind from there on)
    shifts: list[tuple[int, int]] = []
    for lo, hi in sorted(spans):
        pieces += (text[at:lo], _HOLE)
        holes.append(text[lo:hi])
        at = hi
        shifts.append((hi, (shifts[-1][1] if shifts else 0) + hi - lo - 1))
    pieces.append(text[at:])
    holed = "".join(pieces)
    # The kept runs outside holes, at their places in the holed text.
    ends = [hi for hi, _ in shifts]
    kept_at = []
    for run_lo, run_hi in kept:
        k = bisect_right(ends, run_lo) - 1
        if not any(lo <= run_lo < hi for lo, hi in spans):
            shift = shifts[k][1] if k >= 0 else 0
            kept_at.append((run_lo - shift, run_hi - shift))
    return _Form(_marked(holed, kept_at), holed, tuple(holes))


def _unmark(
    freq: dict[str, int], tokens: list[str], text: str, cut: str
) -> tuple[list[str], list[int]]:
    """The cut of ``text`` from rjieba's cut of it with its runs marked (``cut``): each run of
    marks becomes the run, one token, under ``_cut_between_punctuation``'s conditions (the run
    joins no digits, the single characters beside it spell no dictionary word); and the
    offsets in ``text`` of the runs where one fails (the cut is then of no use). A run left
    unmarked (``_as_it_stands``) is among rjieba's tokens already."""
    out: list[str] = []
    failed: list[int] = []
    at = 0
    for run in _PUNCT_RUN.finditer(text):
        start, end = run.span()
        if cut[start] != MARK:
            continue
        mark = tokens.index(MARK, at)
        out.extend(tokens[at:mark])
        value = run.group()
        at = mark + len(value)  # one mark token per character of the run
        beside = (_piece_singles(out, len(out) - 1, -1), _piece_singles(tokens, at, 1))
        left, right = text[start - 1 : start], text[end : end + 1]
        if not _run_alone(value, left, right, beside, freq):
            failed.append(start)
        out.append(value)
    out.extend(tokens[at:])
    return out, failed


def _holed_at(form: _Form, offsets: list[int]) -> _Form:
    """``form`` with more holes: the blocks of its holed text holding ``offsets``."""
    pieces: list[str] = []
    cut: list[str] = []  # the same pieces of form.cut (its kept runs stay unmarked)
    holes = list(form.holes)
    at = 0
    for block in _BLOCK.finditer(form.holed):
        lo, hi = block.span()
        if any(lo <= offset < hi for offset in offsets):
            holes.insert(form.holed.count(_HOLE, 0, lo) + len(pieces) // 2, block.group())
            pieces += (form.holed[at:lo], _HOLE)
            cut += (form.cut[at:lo], _HOLE)
            at = hi
    pieces.append(form.holed[at:])
    cut.append(form.cut[at:])
    return _Form("".join(cut), "".join(pieces), tuple(holes))


def _cut_alone(seg: Segmenter, form: _Form) -> Cut:
    """The batch path for one text whose runs failed a check in the batch: rjieba on its
    form alone, the failing runs' blocks made holes (which the one-text path hands to
    jieba). Blocks are cut apart, so the other runs pass as they did: one retry does."""
    fast, base = seg._dict.rjieba, _base_dictionary(seg.fast)
    assert fast is not None and base.rjieba is not None  # the batch path runs with rjieba
    while True:
        mine = fast.cut(form.cut)
        cut, failed = _unmark(seg._dict.jieba.FREQ, mine, form.holed, form.cut)
        if failed:
            form = _holed_at(form, failed)
            continue
        if not seg.words.isdisjoint(cut):
            theirs = base.rjieba.cut(form.cut)
            if theirs != mine:
                plain_cut, failed = _unmark(base.jieba.FREQ, theirs, form.holed, form.cut)
                if failed:
                    form = _holed_at(form, failed)
                    continue
                cut = _guard(cut, plain_cut, seg.words)
        return _offsets(_filled(seg, cut, form.holes))


def _filled(seg: Segmenter, tokens: list[str], holes: tuple[str, ...]) -> list[str]:
    """``tokens`` with each hole's cut in its place: a block cut on its own (jieba's code
    where rjieba may differ) and guarded on its own, as the one-text cut does."""
    if not holes:
        return tokens
    out: list[str] = []
    at = 0
    for hole in holes:
        k = tokens.index(_HOLE, at)
        out += tokens[at:k]
        if _BLOCK.fullmatch(hole):
            cut = seg._dict.cut_block(hole)
            if not seg.words.isdisjoint(cut):
                cut = _guard(cut, _base_dictionary(seg.fast).cut_block(hole), seg.words)
            out += cut
        else:
            out.append(hole)
        at = k + 1
    out += tokens[at:]
    return out


def _offsets(tokens: list[str]) -> Cut:
    keep = _words_mask(tokens)
    starts = compress(accumulate(map(len, tokens), initial=0), keep)
    return list(compress(tokens, keep)), list(starts)


def _guard_many(
    seg: Segmenter,
    guarded: list[tuple[int, int, list[str], list[str]]],
    forms: dict[int, _Form],
    cut_texts: list[str],
    batch_words: tuple[list[str], list[int], list[int]],
    out: dict[int, Cut],
) -> None:
    """The alias guard, exactly, for the texts holding one of the institution's words that
    ``guard_suspects`` flagged (or whose runs are looked at one by one), ``(index, k, piece,
    cut)`` each: the plain dictionary's cut of only the blocks holding such a word (a word
    never crosses a block, and neither does a stretch the guard takes), in one call; a block
    whose two cuts agree needs nothing. ``batch_words``: the words, offsets and per-text
    bounds of ``Layout``."""
    base = _base_dictionary(seg.fast)
    assert base.rjieba is not None  # built with the same fast flag
    own, freq, plain_freq = seg.words, seg._dict.jieba.FREQ, base.jieba.FREQ
    words, starts, bounds = batch_words
    whole = bool(_odd_words(own))  # such a word is not among ``words``
    blocks: list[tuple[int, int, int]] = []  # (n, lo, hi): guarded[n]'s block lo:hi
    for n, (_, k, _, _) in enumerate(guarded):
        text = cut_texts[k]
        if whole:
            blocks.append((n, 0, len(text)))
            continue
        a = bounds[k]
        at = [
            starts[a + j]
            for j in compress(count(), map(own.__contains__, words[a : bounds[k + 1]]))
        ]
        reverse, hi = text[::-1], -1
        for p in at:
            if p < hi:
                continue  # in the block just taken
            # The block around p: from after the non-block character before it (found in
            # the reversed text) to the next one.
            before, after = _NOT_BLOCK.search(reverse, len(text) - p), _NOT_BLOCK.search(text, p)
            lo = len(text) - before.start() if before else 0
            hi = after.start() if after else len(text)
            blocks.append((n, lo, hi))
    plains = base.rjieba.cut(_SEP.join([cut_texts[guarded[n][1]][lo:hi] for n, lo, hi in blocks]))
    changes: dict[int, list[tuple[int, int, list[str]]]] = {}
    alone: set[int] = set()
    starts_of: dict[int, list[int]] = {}
    ra = 0
    for m, (n, lo, hi) in enumerate(blocks):
        rb = plains.index(_SEP, ra) if m < len(blocks) - 1 else len(plains)
        theirs = plains[ra:rb]
        ra = rb + 1
        if n in alone:
            continue
        i, _, piece, _ = guarded[n]
        offs = starts_of.get(n)
        if offs is None:
            offs = starts_of[n] = list(accumulate(map(len, piece), initial=0))
        mine = piece[bisect_left(offs, lo) : bisect_left(offs, hi)]
        if theirs == mine:
            # Nothing to guard; and where runs were marked, the plain dictionary (whose
            # words this one's hold) passes the checks this one passed.
            continue
        form = forms.get(i)
        if form is not None:
            text, marked = form.holed[lo:hi], form.cut[lo:hi]
            mine = _unmark(freq, mine, text, marked)[0]  # passed for the whole text already
            theirs, failed = _unmark(plain_freq, theirs, text, marked)
            if failed:
                alone.add(n)
                out[i] = _cut_alone(seg, _holed_at(form, [lo + at for at in failed]))
                continue
        # The guard takes a stretch only where a plain word holds one of ours and is longer.
        ours = [word for word in mine if word in own]
        if not any(w in t and len(t) > len(w) for t in theirs if len(t) > 1 for w in ours):
            continue
        kept = _guard(mine, theirs, own)
        if kept is not mine:
            changes.setdefault(n, []).append((lo, hi, kept))
    for n, (i, k, _, cut) in enumerate(guarded):
        if n in alone:
            continue
        form = forms.get(i)
        if n in changes:
            offs = list(accumulate(map(len, cut), initial=0))
            spliced: list[str] = []
            upto = 0
            for lo, hi, kept in changes[n]:
                spliced += cut[upto : bisect_left(offs, lo)]
                spliced += kept
                upto = bisect_left(offs, hi)
            cut = spliced + cut[upto:]
        elif form is None:
            out[i] = (words[bounds[k] : bounds[k + 1]], starts[bounds[k] : bounds[k + 1]])
            continue
        out[i] = _offsets(_filled(seg, cut, form.holes if form is not None else ()))


@lru_cache(maxsize=8)
def _odd_words(own: frozenset[str]) -> frozenset[str]:
    """The words of ``own`` that are not words of a cut (``_is_word``): not among its words."""
    return frozenset(word for word in own if not _is_word(word))


def cut_offsets_many(seg: Segmenter, norms: Sequence[str]) -> list[Cut]:
    """``seg.cut_offsets`` of each normalised text, most of them from one rjieba call over
    the batch (and one more for the alias guard's plain cut of the blocks it looks at)."""
    dictionary = seg._dict
    fast = dictionary.rjieba
    whole = "".join(norms)
    if "\x00" in whole or "\x01" in whole or "\x02" in whole:  # rare: look text by text
        batch = [i for i, text in enumerate(norms) if text and not _CONTROLS.search(text)]
    else:  # three C scans of the batch, not a regex search per text
        batch = [i for i, text in enumerate(norms) if text]
    if fast is None or len(batch) < 2:
        return [seg.cut_offsets(text) for text in norms]
    texts = [norms[i] for i in batch]
    forms: dict[int, _Form] = {}
    listed = _troubles(texts, dictionary.digit_words, dictionary.punct_chars)
    for k, troubles in listed.items():
        form = _form(dictionary, texts[k], troubles)
        if form is None:
            batch[k] = -1  # cut on its own
        elif form.holes or form.cut != form.holed:
            forms[batch[k]] = form
    batch = [i for i in batch if i >= 0]
    cut_texts = [forms[i].cut if i in forms else norms[i] for i in batch]
    joined = _SEP.join(cut_texts)
    tokens = fast.cut(joined)
    lay = layout(joined, tokens)
    words, bounds, offsets = lay.words, lay.bounds, lay.offsets
    # Most texts' cuts are their slices of the batch's words; the rest are patched below.
    cuts = [(words[a:b], offsets[a:b]) for a, b in pairwise(bounds)]
    own = seg.words
    exact: set[int] = set()  # texts (by place in the batch) that take the per-text path
    if forms:
        failing = failing_runs(tokens, lay.codes[lay.starts], lay.lengths, dictionary.jieba.FREQ)
        exact |= lay.texts_at(lay.starts[failing])
    owned = own_words(lay, own)
    if owned.size:
        base = _base_dictionary(seg.fast)
        assert base.rjieba is not None  # built with the same fast flag
        exact |= lay.texts_at(guard_suspects(lay, owned, base.rjieba.cut, base.jieba.FREQ))
    odd = _odd_words(own)
    if odd and not odd.isdisjoint(tokens):
        exact |= lay.texts_at(lay.starts[list(compress(count(), map(odd.__contains__, tokens)))])
    token_bounds = lay.token_bounds()
    holed = [k for k, i in enumerate(batch) if i in forms and forms[i].holes]
    for k in holed:
        if k not in exact:
            piece = tokens[token_bounds[k] : token_bounds[k + 1] - 1]
            cuts[k] = _offsets(_filled(seg, piece, forms[batch[k]].holes))
    guarded: list[tuple[int, int, list[str], list[str]]] = []  # (index, k, piece, cut)
    for k in sorted(exact):
        i, form = batch[k], forms.get(batch[k])
        piece = tokens[token_bounds[k] : token_bounds[k + 1] - 1]
        owner = not own.isdisjoint(words[bounds[k] : bounds[k + 1]]) or not odd.isdisjoint(piece)
        cut, failed = (
            (piece, [])
            if form is None
            else _unmark(dictionary.jieba.FREQ, piece, form.holed, form.cut)
        )
        if failed:
            assert form is not None  # only marked runs fail
            cuts[k] = _cut_alone(seg, _holed_at(form, failed))
        elif owner:
            guarded.append((i, k, piece, cut))
        else:
            cuts[k] = _offsets(_filled(seg, cut, form.holes if form is not None else ()))
    out = dict(zip(batch, cuts, strict=True))
    if guarded:
        _guard_many(seg, guarded, forms, cut_texts, (words, offsets, bounds), out)
    return [out[i] if i in out else seg.cut_offsets(text) for i, text in enumerate(norms)]
