"""Regex-driven string generation: values that match a contract pattern such as ^TX[0-9]{8}$."""

from __future__ import annotations

from re import _constants as _sre_c  # the regex parser of Python 3.11+

import numpy as np

from dq_platform.demo.sample_data.vocabularies import _ALNUM

# --------------------------------------------------------------------------------------
# Regex-driven string generation (patterns such as ^TX[0-9]{8}$)
# --------------------------------------------------------------------------------------


class _Unsupported(Exception):
    pass


def _class_chars(items) -> list[int]:
    chars: set[int] = set()
    negate = False
    for op, av in items:
        name = str(op)
        if name == "NEGATE":
            negate = True
        elif name == "LITERAL":
            chars.add(av)
        elif name == "RANGE":
            chars.update(range(av[0], av[1] + 1))
        elif name == "CATEGORY":
            chars.update(_category_chars(av))
        else:
            raise _Unsupported(name)
    if negate:
        chars = set(_ALNUM) - chars
    if not chars:
        raise _Unsupported("empty class")
    return sorted(chars)


def _category_chars(av) -> list[int]:
    name = str(av)
    if name.endswith("NOT_DIGIT") or name.endswith("NOT_WORD") or name.endswith("NOT_SPACE"):
        base = {"DIGIT": "-_.", "WORD": "-.", "SPACE": "ABCdef0123"}[name.rsplit("_", 1)[-1]]
        return [ord(c) for c in base]
    if name.endswith("DIGIT"):
        return [ord(c) for c in "0123456789"]
    if name.endswith("WORD"):
        return _ALNUM
    if name.endswith("SPACE"):
        return [32]
    raise _Unsupported(name)


def _emit(items, n: int, rng: np.random.Generator, slots: list | None = None) -> np.ndarray:
    """Code-point matrix (n, L) for a parsed regex; ``slots`` collects top-level fixed-width
    digit runs (start column, width) that unique columns fill with scrambled sequence numbers."""
    cols: list[np.ndarray] = []
    width = 0

    def choose(chars):
        arr = np.asarray(chars, dtype=np.uint32)
        return arr[rng.integers(0, len(arr), n)][:, None]

    for op, av in items:
        name = str(op)
        if name == "LITERAL":
            m = np.full((n, 1), av, dtype=np.uint32)
        elif name == "NOT_LITERAL":
            m = choose([c for c in _ALNUM if c != av])
        elif name == "ANY":
            m = choose(_ALNUM)
        elif name == "IN":
            m = choose(_class_chars(av))
        elif name == "CATEGORY":
            m = choose(_category_chars(av))
        elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            lo, hi, sub = av
            hi = lo + 3 if hi == _sre_c.MAXREPEAT else min(hi, lo + 8)
            count = rng.integers(lo, hi + 1, n) if hi > lo else None
            parts = []
            for j in range(hi):
                part = _emit(sub, n, rng)
                if count is not None:
                    part[count <= j] = 0
                parts.append(part)
            m = np.concatenate(parts, axis=1) if parts else np.zeros((n, 0), np.uint32)
            if slots is not None and lo == hi and len(sub) == 1 and str(sub[0][0]) in ("IN", "CATEGORY"):
                try:
                    chars = _class_chars(sub[0][1]) if str(sub[0][0]) == "IN" else _category_chars(sub[0][1])
                except _Unsupported:
                    chars = []
                if chars == [ord(c) for c in "0123456789"]:
                    slots.append((width, lo))
        elif name == "SUBPATTERN":
            m = _emit(av[-1], n, rng)
        elif name == "BRANCH":
            branches = [_emit(b, n, rng) for b in av[1]]
            w = max(b.shape[1] for b in branches)
            stack = np.stack([np.pad(b, ((0, 0), (0, w - b.shape[1]))) for b in branches])
            m = stack[rng.integers(0, len(branches), n), np.arange(n)]
        elif name == "AT":
            continue
        else:
            raise _Unsupported(name)
        cols.append(m)
        width += m.shape[1]
    return np.concatenate(cols, axis=1) if cols else np.zeros((n, 0), np.uint32)


def _scramble(x: np.ndarray, digits: int, salt: int) -> np.ndarray:
    """Bijection on [0, 10**d), d = min(digits, 12): sequential ids -> random-looking, still
    unique. Affine maps (invertible: multiplier coprime to 10) around a digit reversal."""
    d = min(digits, 12)
    mod = 10**d
    v = np.asarray(x, dtype=np.int64) % mod
    for a, b in ((738_917, salt), (591_373, salt // 7 + 12_345)):
        v = (v * a + b % mod) % mod
        r = np.zeros_like(v)
        for _ in range(d):  # reverse the d digits (a permutation of d-digit strings)
            v, digit = np.divmod(v, 10)
            r = r * 10 + digit
        v = r
    return v
