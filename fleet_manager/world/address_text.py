"""Address text: ASCII folding, house numbers, and the tokens of a typed address.

Pure functions, no I/O beyond reading the packaged word lists once. Both the address index (OSM
names and `addr:housenumber` values) and the resolver (what a person typed) go through `fold` and
`parse_housenumber`, so the two sides meet in one spelling: lower-case ASCII (anyascii), no
punctuation, single spaces. "Mannerheimvägen" and "Mannerhéimvagen" both fold to "mannerheimvagen".
"""

from __future__ import annotations

import enum
import functools
import re
import unicodedata
from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml
from anyascii import anyascii

from fleet_manager.errors import AddressQueryError

_NON_ALNUM = re.compile(r"[^a-z0-9]+")
# One house number as OSM and people write it: "14", "9a", "20 B", "14-20", "29-27", "1a-1c".
_HOUSENUMBER = re.compile(r"(\d{1,4})\s*([a-z](?![a-z]))?(?:\s*-\s*(\d{1,4})\s*([a-z](?![a-z]))?)?")
# Query tokenizer on folded-but-punctuated text: separators, number runs (with glued letters), words.
_TOKEN = re.compile(r"[,;|\n]|\d+(?:\s*-\s*\d+(?![0-9]))?[a-z]*\d*|[a-z]+(?:\d[a-z0-9]*)?")
_MAX_HOUSENUMBER = 9999


def fold(text: str) -> str:
    """Lower-case ASCII with single spaces: 'Iso Roobertinkatu' -> 'iso roobertinkatu', 'Plaça' -> 'placa'."""
    ascii_text = anyascii(unicodedata.normalize("NFKC", text)).lower()
    return _NON_ALNUM.sub(" ", ascii_text).strip()


def squash(folded: str) -> str:
    """A folded text without spaces, so 'alvar aallon kuja' meets 'alvaraallonkuja' and 'asema aukio'."""
    return folded.replace(" ", "")


@dataclass(frozen=True)
class HouseNumber:
    """A house number: first number, letter ('' if none), last number of a range (== first if none)."""

    first: int
    letter: str = ""
    last: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.first <= _MAX_HOUSENUMBER:
            raise ValueError(f"house number {self.first} is not in 1..{_MAX_HOUSENUMBER}")
        if self.last == 0:
            object.__setattr__(self, "last", self.first)
        if self.last < self.first:  # OSM has "29-27"; a range is a range either way round
            first, last = self.last, self.first
            object.__setattr__(self, "first", first)
            object.__setattr__(self, "last", last)

    @property
    def key(self) -> str:
        """The index key: '14', '9a', '14-20'."""
        if self.last != self.first:
            return f"{self.first}-{self.last}"
        return f"{self.first}{self.letter}"

    @property
    def is_range(self) -> bool:
        """True for '14-20'."""
        return self.last != self.first

    def covers(self, other: HouseNumber) -> bool:
        """True if `other` lies inside this range (or overlaps it, for a range)."""
        return self.first <= other.last and other.first <= self.last


def parse_housenumber(text: str) -> HouseNumber | None:
    """The house number at the start of an OSM `addr:housenumber` (or typed) value; None if there is none.

    Whatever follows a comma is a floor or a courtyard ('2, 2. krs./Floor 2', '7 B, sisäpiha') and is
    dropped; a letter after the number, glued or spaced, is kept ('20 B' -> 20b, '9A' -> 9a).
    """
    head = anyascii(unicodedata.normalize("NFKC", text.split(",")[0].split(";")[0])).lower()
    match = _HOUSENUMBER.search(head)
    if match is None:
        return None
    first = int(match.group(1))
    if not 0 < first <= _MAX_HOUSENUMBER:
        return None
    last = int(match.group(3)) if match.group(3) else 0
    if last > _MAX_HOUSENUMBER:
        return None
    letter = "" if last else (match.group(2) or "")
    return HouseNumber(first, letter, last)


class TokenKind(enum.Enum):
    """What a token of a typed address is, before the street is known."""

    SEPARATOR = "separator"  # , ; | newline
    NUMBER = "number"  # 1-4 digits, maybe with glued letters or digits: 14, 9a, 14b23, 2n, 14-20
    POSTCODE = "postcode"  # matches a country's postcode pattern: 00100, ad500
    WORD = "word"


@dataclass(frozen=True)
class Token:
    """One token: its kind, folded text, and (for numbers) the house number it would be."""

    kind: TokenKind
    text: str
    house: HouseNumber | None = None
    # Text glued after the house number that belongs to the unit: "b23" in "14b23" -> staircase b, flat 23.
    unit_tail: str = ""
    abbreviated: bool = False  # a word typed with a full stop after it: "Aleksanterink.", "Av."


@dataclass(frozen=True)
class Locale:
    """The packaged word lists: countries (names, codes, postcode patterns), unit words, street types."""

    country_names: dict[str, str]  # folded name -> ISO code
    country_codes: dict[str, str]  # folded code -> ISO code
    postcode_patterns: dict[str, re.Pattern[str]]  # ISO code -> full-match pattern on folded text
    unit_words: frozenset[str]
    street_types: dict[str, str]  # folded alias -> folded word the streets use
    # ISO code -> (postcode, names of the region it serves): Andorra's parishes.
    regions: dict[str, tuple[tuple[str, tuple[str, ...]], ...]]

    def street_type_aliases(self, street_words: set[str]) -> dict[str, str]:
        """The aliases that apply in a world whose street names contain `street_words`."""
        return {alias: word for alias, word in self.street_types.items() if word in street_words}

    def region_postcode(self, country: str, name: str) -> str:
        """The postcode of a country's region named `name` (any of its names), '' if none."""
        folded = fold(name)
        for postcode, names in self.regions.get(country, ()):
            if any(fold(n) == folded for n in names):
                return postcode
        return ""

    def country_of(self, text: str) -> str | None:
        """ISO code for a country name or code ('Suomi', 'FI', 'Andorre'); None if it is not one."""
        folded = fold(text)
        return self.country_names.get(folded) or self.country_codes.get(folded)


@functools.cache
def locale() -> Locale:
    """The word lists in `address_locales.yaml` (read once per process)."""
    raw: dict[str, Any] = yaml.safe_load(
        (resources.files("fleet_manager.world") / "address_locales.yaml").read_text(encoding="utf-8")
    )
    names: dict[str, str] = {}
    codes: dict[str, str] = {}
    patterns: dict[str, re.Pattern[str]] = {}
    regions: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {}
    for iso, entry in raw["countries"].items():
        regions[iso] = tuple((str(code), tuple(names)) for code, names in (entry.get("regions") or {}).items())
        codes.update({fold(code): iso for code in entry.get("codes", ())})
        names.update({fold(name): iso for name in entry.get("names", ())})
        if entry.get("postcode"):
            patterns[iso] = re.compile(entry["postcode"])
    units = frozenset(fold(word) for group in raw["unit_words"] for word in group)
    types = {fold(alias): fold(word) for word, aliases in raw["street_types"].items() for alias in aliases}
    return Locale(names, codes, patterns, units, types, regions)


def tokenize(text: str, *, max_chars: int = 300) -> list[Token]:
    """The tokens of a typed address; AddressQueryError for empty or over-long text.

    Letters and digits glued together are split the way people glue them: 'Mannerheimintie14' ->
    word + number, '14B23' -> number 14 with unit tail 'b23'. A 5-digit number or 'AD500' is a
    postcode (the country patterns of `address_locales.yaml`), never a house number.
    """
    if not isinstance(text, str) or not text.strip():
        raise AddressQueryError("address query is empty")
    if len(text) > max_chars:
        raise AddressQueryError(f"address query is {len(text)} characters long; at most {max_chars} are read")
    ascii_text = anyascii(unicodedata.normalize("NFKC", text)).lower()
    ascii_text = ascii_text.replace("'", " ").replace("`", " ")
    # "FI-00100", "AD-500": the country prefix of a postcode is the country, the rest the postcode.
    ascii_text = re.sub(r"\b([a-z]{2})\s*-\s*(\d{3,5})\b", r"\1 \2", ascii_text)
    ascii_text = re.sub(r"\bad (\d{3})\b", r"ad\1", ascii_text)
    # "s/n" (sense número, sin número): the sender says there is no number; nothing to read.
    ascii_text = re.sub(r"\bs\s*/\s*n\b", " ", ascii_text)
    patterns = locale().postcode_patterns
    tokens: list[Token] = []
    for match in _TOKEN.finditer(ascii_text):
        raw = match.group(0)
        if raw in ",;|\n":
            tokens.append(Token(TokenKind.SEPARATOR, ","))
            continue
        if any(pattern.fullmatch(raw) for pattern in patterns.values()):
            tokens.append(Token(TokenKind.POSTCODE, raw))
            continue
        if raw[0].isdigit():
            tokens.append(_number_token(raw))
            continue
        digit_at = next((i for i, char in enumerate(raw) if char.isdigit()), len(raw))
        abbreviated = digit_at == len(raw) and ascii_text[match.end() : match.end() + 1] == "."
        tokens.append(Token(TokenKind.WORD, raw[:digit_at], abbreviated=abbreviated))
        if digit_at < len(raw):  # "mannerheimintie14": the street and its number, typed without a space
            tokens.append(_number_token(raw[digit_at:]))
    return tokens


def _number_token(raw: str) -> Token:
    compact = raw.replace(" ", "")
    range_match = re.fullmatch(r"(\d{1,4})-(\d{1,4})([a-z]*\d*)", compact)
    if range_match:  # "31-33", and "31-33B" whose B is the staircase
        house = _house_or_none(int(range_match.group(1)), "", int(range_match.group(2)))
        return Token(TokenKind.NUMBER, compact, house, range_match.group(3))
    match = re.fullmatch(r"(\d+)([a-z]*)(\d*)", compact)
    if match is None:  # "14-20b"-like leftovers: keep the number part
        head = re.match(r"\d+", compact)
        digits = head.group(0) if head else "0"
        return Token(TokenKind.NUMBER, compact, _house_or_none(int(digits[:4]), "", 0), compact[len(digits) :])
    digits, letters, more_digits = match.groups()
    if len(digits) > 4:
        return Token(TokenKind.NUMBER, compact, None)
    if len(letters) == 1 and not more_digits:
        return Token(TokenKind.NUMBER, compact, _house_or_none(int(digits), letters, 0))
    # "2n", "1er", "14b23": the digits are a number; what is glued on belongs to the unit.
    return Token(TokenKind.NUMBER, compact, _house_or_none(int(digits), "", 0), letters + more_digits)


def _house_or_none(first: int, letter: str, last: int) -> HouseNumber | None:
    if not 0 < first <= _MAX_HOUSENUMBER or last > _MAX_HOUSENUMBER:
        return None
    return HouseNumber(first, letter, last)
