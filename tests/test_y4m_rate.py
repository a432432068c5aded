"""``Y4MHeader.with_rate``: the F token of every kind of header, read back by the parser."""

from __future__ import annotations

from fractions import Fraction

import pytest

from lecinpaint.io.y4m import Y4MHeader, parse_layout


@pytest.mark.parametrize(
    "header",
    [
        Y4MHeader.parse(b"YUV4MPEG2 W64 H48 F30000:1001 It A1:1 C420mpeg2 XCOLORRANGE=LIMITED\n"),
        Y4MHeader.parse(b"YUV4MPEG2 F25:1 W8 H4 C444\n"),  # F first: replaced where it stands
        Y4MHeader.make(32, 16, Fraction(24000, 1001), "422", "XCOLORRANGE=FULL"),
        Y4MHeader(16, 8, Fraction(50), parse_layout("mono")),  # built from its fields, no tokens
        Y4MHeader(16, 8, Fraction(50), parse_layout("420jpeg"), ("W16", "H8", "Ip", "C420jpeg")),  # no F
    ],
    ids=["parsed", "f-first", "made", "fields-only", "tokens-without-F"],
)
@pytest.mark.parametrize("rate", [Fraction(5), Fraction(30000, 1001), Fraction(1, 3)])
def test_with_rate_writes_the_new_rate(header: Y4MHeader, rate: Fraction) -> None:
    before = header.encode()
    new = header.with_rate(rate)
    line = new.encode()
    assert line.count(b" F") == 1 and f" F{rate.numerator}:{rate.denominator}".encode() in line
    back = Y4MHeader.parse(line)
    assert back.rate == rate == new.rate
    assert (back.width, back.height, back.layout.token) == (header.width, header.height, header.layout.token)
    # Every other field is written back unchanged, in its place.
    if header.tokens:
        old_tokens = [t for t in header.tokens if not t.startswith("F")]
        assert [t for t in back.tokens if not t.startswith("F")] == old_tokens
        if any(t.startswith("F") for t in header.tokens):
            i = next(i for i, t in enumerate(header.tokens) if t.startswith("F"))
            assert back.tokens[i] == f"F{rate.numerator}:{rate.denominator}"
    # The original is left as it was: with_rate returns a copy.
    assert header.encode() == before
