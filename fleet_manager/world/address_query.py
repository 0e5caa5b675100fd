"""Reading a tokenized address query: the word runs a street may be, and around a matched street
the house number, staircase letter and unit (flat, floor) with the tokens they use.

Pure; used by `address_resolver`, which does the matching and scoring.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .address_text import HouseNumber, Token, TokenKind

MAX_SPAN_WORDS = 5


@dataclass(frozen=True)
class StreetMatch:
    """A street whose name matched the words typed at token positions [start, end)."""

    street_index: int
    score: float  # 0..100, weighted
    run: int
    start: int  # token positions of the matched words, [start, end)
    end: int


@dataclass(frozen=True)
class Span:
    """Consecutive words of one run, as the street name they may be."""

    text: str
    run: int
    start: int
    end: int
    # For a span with an abbreviated word ("aleksanterink."), the squashed names it can stand for.
    prefix_pattern: re.Pattern[str] | None = None
    typed_letters: int = 0


@dataclass(frozen=True)
class Reading:
    """The house number, staircase letter and unit next to one street match, and the tokens they use."""

    house: HouseNumber | None
    letter: str
    unit: str
    used: frozenset[int]


class Query:
    """A tokenized query and the readings of it."""

    def __init__(self, text: str, tokens: list[Token]) -> None:
        self.text = text
        self.tokens = tokens
        self.postcodes = [t.text for t in tokens if t.kind is TokenKind.POSTCODE]
        self.runs: list[list[int]] = []
        current: list[int] = []
        for position, token in enumerate(tokens):
            if token.kind is TokenKind.WORD:
                current.append(position)
            elif current:
                self.runs.append(current)
                current = []
        if current:
            self.runs.append(current)

    def word_positions(self) -> list[int]:
        """Positions of all word tokens."""
        return [i for run in self.runs for i in run]

    def spans(self, aliases: dict[str, str]) -> list[Span]:
        """Every run of up to five consecutive words, with street-type aliases replaced."""
        spans = []
        for run_number, run in enumerate(self.runs):
            words = [aliases.get(self.tokens[i].text, self.tokens[i].text) for i in run]
            shortened = [self.tokens[i].abbreviated and self.tokens[i].text not in aliases for i in run]
            for start in range(len(run)):
                for end in range(start + 1, min(len(run), start + MAX_SPAN_WORDS) + 1):
                    pattern, typed = None, 0
                    if any(shortened[start:end]):
                        pattern = re.compile(
                            "".join(
                                re.escape(w) + ("[a-z]*" if short else "")
                                for w, short in zip(words[start:end], shortened[start:end], strict=True)
                            )
                        )
                        typed = sum(len(w) for w in words[start:end])
                    text = " ".join(words[start:end])
                    spans.append(Span(text, run_number, run[start], run[end - 1] + 1, pattern, typed))
        return spans

    def code_position(self, position: int) -> bool:
        """A country code counts at the end of a comma part or right before a postcode ('FI 00100')."""
        following = self.tokens[position + 1] if position + 1 < len(self.tokens) else None
        return following is None or following.kind in (TokenKind.SEPARATOR, TokenKind.POSTCODE)

    def read_around(self, match: StreetMatch, unit_words: frozenset[str]) -> Reading:
        """The house number after the street's words (or before them) and the unit after the number."""
        tokens = self.tokens
        used = set(range(match.start, match.end))
        number_at = self._number_near(match.end, forward=True)
        letter_before = ""
        if number_at is None:
            number_at = self._number_near(match.start - 1, forward=False)
        if number_at is None:
            # "15 B Aleksanterinkatu", "20 B, Mannerheimintie": number and staircase before the street
            position = match.start - 1
            if 0 <= position < len(tokens) and tokens[position].kind is TokenKind.SEPARATOR:
                position -= 1
            if self._is_letter(position) and self._number_near(position - 1, forward=False) is not None:
                number_at = self._number_near(position - 1, forward=False)
                letter_before = tokens[position].text
                used.add(position)
        if number_at is None:
            return Reading(None, "", "", frozenset(used))
        token = tokens[number_at]
        used.add(number_at)
        house = token.house
        letter = (house.letter if house else "") or letter_before
        if house is not None and letter:
            house = HouseNumber(house.first, "", house.last)
        unit_tokens: list[str] = re.findall(r"[a-z]+|\d+", token.unit_tail)
        if token.unit_tail[:1].isalpha() and not letter:
            letter = token.unit_tail[0]
        position = number_at + 1
        while position < len(tokens):
            current = tokens[position]
            unit_like = current.kind is TokenKind.NUMBER or (
                current.kind is TokenKind.WORD and (len(current.text) == 1 or current.text in unit_words)
            )
            if current.kind is TokenKind.SEPARATOR and self._unit_part_follows(position + 1, unit_words):
                position += 1
                continue
            if not unit_like or position in used:
                break
            if current.kind is TokenKind.WORD and len(current.text) == 1 and not letter and not unit_tokens:
                letter = current.text
            unit_tokens.append(current.text)
            used.add(position)
            position += 1
        unit = " ".join(word.upper() if len(word) == 1 else word for word in unit_tokens)
        if letter and not unit.startswith(letter.upper()):
            unit = f"{letter.upper()} {unit}".strip()
        return Reading(house, letter, unit, frozenset(used))

    def _is_letter(self, position: int) -> bool:
        return 0 <= position < len(self.tokens) and (
            self.tokens[position].kind is TokenKind.WORD and len(self.tokens[position].text) == 1
        )

    def _number_near(self, position: int, *, forward: bool) -> int | None:
        step = 1 if forward else -1
        skipped_separator = False
        while 0 <= position < len(self.tokens):
            token = self.tokens[position]
            if token.kind is TokenKind.NUMBER:
                return position if token.house is not None else None
            if token.kind is TokenKind.SEPARATOR and not skipped_separator:
                skipped_separator = True
                position += step
                continue
            return None
        return None

    def _unit_part_follows(self, position: int, unit_words: frozenset[str]) -> bool:
        """True if the comma part starting at `position` is all unit ('B 23', 'as. 5', '2n 1a')."""
        seen = False
        while position < len(self.tokens) and self.tokens[position].kind is not TokenKind.SEPARATOR:
            token = self.tokens[position]
            if token.kind is TokenKind.POSTCODE:
                return False
            if token.kind is TokenKind.WORD and len(token.text) > 1 and token.text not in unit_words:
                return False
            seen = True
            position += 1
        return seen
