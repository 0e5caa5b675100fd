"""Free-text address -> building, drop point, confidence and alternatives, from a world's address index.

How a query is read: it is cut into tokens (`address_text.tokenize`); every run of words is tried
against every name of every street (rapidfuzz: Indel ratio without spaces, so glued or split words
meet, and token-sort ratio, so transposed words meet); the house number is the number next to the
street's words, and what follows it (staircase letter, flat, floor) is the unit. A candidate is an
address of a matched street whose number fits. Its quality multiplies the street similarity
(squared), how the number fits, whether the postcode agrees, and how many words nothing explains;
its confidence is that quality times its share against the other candidates and against "none of
them" (a softmax), so two near-equal candidates are both uncertain. Below `review_below` the answer
is `needs_review` and carries no building: the candidates are only alternatives, never a guess.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from rapidfuzz import fuzz, process

from fleet_manager.errors import AddressQueryError

from .address_points import BuildingPointMatcher, PointHit
from .address_query import Query, Reading, StreetMatch
from .address_text import HouseNumber, fold, locale, squash, tokenize
from .addresses import Address, AddressIndex, BuildingPoint, DropPoint, DropPointKind, Street

DEFAULT_REVIEW_BELOW = 0.75
_MIN_STREET_SCORE = 60.0  # rapidfuzz 0..100: below this a street is not even an alternative
_STREETS_TRIED = 5
# A name typed shortened with a full stop ("Annank. 20") scores 92..98 by how much of it was typed.
_MIN_ABBREVIATION_LETTERS = 4
_ABBREVIATION_BASE = 92.0
_ABBREVIATION_SPREAD = 6.0
_ALTERNATIVES = 3
_MIN_ALTERNATIVE_CONFIDENCE = 0.01  # fainter candidates are noise to a reviewer
_NONE_OF_THEM_QUALITY = 0.55  # the quality "the address is not in the index" competes with
_SOFTMAX_TEMPERATURE = 0.04
_UNEXPLAINED_WORD_FACTOR = 0.96
# How well the typed number fits a mapped one.
_FIT_EXACT = 1.0
_FIT_STAIRCASE = 0.97  # "14 B" typed, "14" mapped: B is the staircase of number 14
_FIT_RANGE = 0.95  # "16" typed, "14-20" mapped (or the other way round)
_FIT_ANY_LETTER = 0.93  # "13" typed, only "13 A" mapped
_POSTCODE_AGREES_DOUBT = 0.6
_POSTCODE_DISAGREES = 0.88
_STREET_POSTCODE_AGREES_DOUBT = 0.8
_STREET_POSTCODE_DISAGREES = 0.95
# Secondary names (old_name, alt_name, short_name) match a little less than current names.
_SECONDARY_NAME_WEIGHT = 0.97
# German-keyboard spellings of Nordic letters ("Toeoeloenkatu"): an extra spelling of each name.
_DIGRAPHS = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "å": "aa", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue", "Å": "Aa"})


class ResolutionStatus(enum.StrEnum):
    """The outcome of resolving one address."""

    RESOLVED = "resolved"
    NEEDS_REVIEW = "needs_review"  # candidates exist but none is certain enough
    NOT_FOUND = "not_found"  # no street or no such house number in the world


@dataclass(frozen=True)
class Candidate:
    """One address (or building point) the query may mean, with its drop point and confidence in [0, 1]."""

    address: Address | BuildingPoint
    street: Street
    confidence: float
    drop_point: DropPoint
    # how it fits: exact, staircase, range, any_letter (house numbers); name, street, unmapped_number (buildings)
    fit: str

    def label(self, language: str | None = None) -> str:
        """'Mannerheimintie 14-20, 00100 Helsinki' (street name in `language` where mapped)."""
        place = " ".join(p for p in (self.address.postcode, self.address.city) if p)
        if isinstance(self.address, BuildingPoint):  # the world's label, which says "(no number)"
            label, locality, postcode = self.address.label, self.address.locality, self.address.postcode
            if postcode and locality and label.endswith(f", {locality}"):  # "..., AD500 Andorra la Vella"
                return f"{label.removesuffix(locality)}{postcode} {locality}"
            return f"{label} ({postcode})" if postcode else label
        text = f"{self.street.name_in(language)} {self.address.housenumber}"
        return f"{text}, {place}" if place else text

    def to_json(self, language: str | None = None) -> dict[str, Any]:
        """The candidate as an alternative in a JSON resolution."""
        return {
            "building_id": self.address.building_id or None,
            "address_id": self.address.address_id,
            "address": self.label(language),
            "confidence": round(self.confidence, 4),
            "latitude_deg": self.drop_point.latitude_deg,
            "longitude_deg": self.drop_point.longitude_deg,
            "drop_point": self.drop_point.kind.value,
        }


@dataclass(frozen=True)
class Resolution:
    """What a query resolved to. `building_id` and the drop point are set only when RESOLVED."""

    query: str
    status: ResolutionStatus
    confidence: float
    best: Candidate | None  # the resolved candidate (None unless RESOLVED)
    alternatives: tuple[Candidate, ...]
    unit: str  # staircase, flat, floor as typed after the house number ('B 23')
    reason: str
    language: str | None = None

    @property
    def needs_review(self) -> bool:
        """True unless the address resolved with enough confidence to deliver without a person."""
        return self.status is not ResolutionStatus.RESOLVED

    def to_json(self) -> dict[str, Any]:
        """The resolution as one JSON object (what `finalmile address --json` prints)."""
        best = self.best
        return {
            "query": self.query,
            "status": self.status.value,
            "needs_review": self.needs_review,
            "confidence": round(self.confidence, 4),
            "building_id": (best.address.building_id or None) if best else None,
            "address_id": best.address.address_id if best else None,
            "address": best.label(self.language) if best else None,
            "unit": self.unit or None,
            "latitude_deg": best.drop_point.latitude_deg if best else None,
            "longitude_deg": best.drop_point.longitude_deg if best else None,
            "drop_point": best.drop_point.kind.value if best else None,
            "entrance_id": (best.drop_point.entrance_id or None) if best else None,
            "reason": self.reason,
            "alternatives": [c.to_json(self.language) for c in self.alternatives],
        }


class AddressResolver:
    """Resolves typed addresses against one world's address index (build once, call often)."""

    def __init__(self, index: AddressIndex, *, review_below: float = DEFAULT_REVIEW_BELOW) -> None:
        if not 0.0 < review_below <= 1.0:
            raise ValueError(f"review_below must be in (0, 1], got {review_below}")
        self.index = index
        self.review_below = review_below
        self._words = locale()
        self._streets = index.streets
        street_words = {word for street in self._streets for _, name in street.names for word in fold(name).split()}
        self._type_aliases = self._words.street_type_aliases(street_words)
        spaced: list[str] = []
        owners: list[int] = []
        weights: list[float] = []
        for position, street in enumerate(self._streets):
            for tag, name in street.names:
                weight = _SECONDARY_NAME_WEIGHT if tag.startswith(("old_name", "alt_name", "short_name")) else 1.0
                for spelling in {fold(name), fold(name.translate(_DIGRAPHS))}:
                    spaced.append(spelling)
                    owners.append(position)
                    weights.append(weight)
        self._choice_spaced = spaced
        self._choice_squashed = [squash(s) for s in spaced]
        self._choice_owner = np.array(owners, dtype=np.int64)
        self._choice_weight = np.array(weights, dtype=np.float64)
        self._localities = {fold(name) for name in index.localities} | {fold(a.city) for a in index.addresses if a.city}
        # Regions people name instead of the village (Andorra's parishes, in Catalan, Spanish and French).
        self._localities |= {fold(n) for _, names in self._words.regions.get(index.country, ()) for n in names}
        self._locality_squashed = sorted(squash(name) for name in self._localities)
        self._points = (
            BuildingPointMatcher(index, self._localities, unexplained_word_factor=_UNEXPLAINED_WORD_FACTOR)
            if index.building_points
            else None
        )

    def resolve(self, text: str, *, country: str | None = None, language: str | None = None) -> Resolution:
        """Resolve one typed address; `country` (ISO code or name) and `language` ('fi', 'sv', ...) are hints.

        AddressQueryError for an empty query, an unknown country or a malformed language code.
        """
        if language is not None and not (len(language) == 2 and language.isalpha()):
            raise AddressQueryError(f"language must be a two-letter code such as 'fi' or 'sv', got {language!r}")
        wanted_country = None
        if country:
            wanted_country = self._words.country_of(country)
            if wanted_country is None:
                raise AddressQueryError(f"country {country!r} is not a country name or ISO code this resolver knows")
        tokens = tokenize(text)
        language = language.lower() if language else None
        query = Query(text, tokens)
        if wanted_country and self.index.country and wanted_country != self.index.country:
            return _no_candidate(
                text,
                ResolutionStatus.NOT_FOUND,
                f"country {wanted_country} is not served by this world ({self.index.country})",
            )
        matches = self._street_matches(query)
        scored: dict[str, Candidate] = {}
        units: dict[str, str] = {}
        numbers_seen: list[str] = []
        mentioned_countries: set[str] = set()
        for hit in self._point_hits(query, matches, mentioned_countries):
            candidate = self._point_candidate(hit)
            key = candidate.address.target_id
            if key not in scored or candidate.confidence > scored[key].confidence:
                scored[key] = candidate
                units[key] = hit.unit
        if not matches and not scored:
            return _no_candidate(text, ResolutionStatus.NOT_FOUND, "no street of this world is like the words typed")
        for match in matches:
            reading = query.read_around(match, self._words.unit_words)
            if reading.house is None:
                continue
            numbers_seen.append(
                f"{reading.house.key} on {self._streets[match.street_index].name} "
                f"(street similarity {match.score / 100:.2f})"
            )
            explained, countries = self._explain(query, reading)
            mentioned_countries |= countries
            for candidate in self._candidates(match, reading, query, explained):
                key = candidate.address.target_id
                if key not in scored or candidate.confidence > scored[key].confidence:
                    scored[key] = candidate
                    units[key] = reading.unit
        foreign = mentioned_countries - {self.index.country}
        if self.index.country and foreign and self.index.country not in mentioned_countries:
            return _no_candidate(
                text,
                ResolutionStatus.NOT_FOUND,
                f"the address names {', '.join(sorted(foreign))}; this world is in {self.index.country}",
            )
        if not scored:
            if not numbers_seen and matches:
                return _no_candidate(
                    text,
                    ResolutionStatus.NEEDS_REVIEW,
                    f"no house number next to '{self._streets[matches[0].street_index].name}'",
                )
            return _no_candidate(text, ResolutionStatus.NOT_FOUND, f"no mapped address {numbers_seen[0]}")
        ranked = [c for c in _with_confidence(list(scored.values())) if c.confidence >= _MIN_ALTERNATIVE_CONFIDENCE]
        if not ranked:
            return _no_candidate(text, ResolutionStatus.NEEDS_REVIEW, "the candidates cancel each other out")
        best = ranked[0]
        unit = units[best.address.target_id]
        if best.confidence < self.review_below:
            return Resolution(
                text,
                ResolutionStatus.NEEDS_REVIEW,
                best.confidence,
                None,
                tuple(ranked[:_ALTERNATIVES]),
                unit,
                f"best match {best.label()} has confidence {best.confidence:.2f} < {self.review_below:.2f}"
                + (f" ({len(ranked)} candidates)" if len(ranked) > _ALTERNATIVES else ""),
                language,
            )
        return Resolution(
            text,
            ResolutionStatus.RESOLVED,
            best.confidence,
            best,
            tuple(ranked[1 : 1 + _ALTERNATIVES]),
            unit,
            f"{best.fit} match",
            language,
        )

    def _point_hits(self, query: Query, matches: list[StreetMatch], countries: set[str]) -> list[PointHit]:
        """Building points the query may mean (worlds with addressless buildings only)."""
        if self._points is None:
            return []

        def unexplained_words(used: frozenset[int]) -> int:
            unexplained, named = self._explain(query, Reading(None, "", "", used))
            countries.update(named)
            return unexplained

        return self._points.hits(
            query,
            matches,
            lambda match: query.read_around(match, self._words.unit_words),
            unexplained_words,
            [self._streets[m.street_index].street_id for m in matches],
        )

    def _point_candidate(self, hit: PointHit) -> Candidate:
        street = self.index.street_by_id.get(hit.point.street_id) or Street(hit.point.street_id, "", (), ())
        return Candidate(hit.point, street, hit.quality, hit.point.drop_point, hit.fit)

    def resolve_many(self, texts: Iterable[str], **hints: Any) -> list[Resolution]:
        """`resolve` for each text, with the same hints."""
        return [self.resolve(text, **hints) for text in texts]

    def _street_matches(self, query: Query) -> list[StreetMatch]:
        spans = query.spans(self._type_aliases)
        if not spans or not self._choice_spaced:
            return []
        squashed = process.cdist(
            [squash(s.text) for s in spans], self._choice_squashed, scorer=fuzz.ratio, dtype=np.float32
        )
        sorted_tokens = process.cdist(
            [s.text for s in spans], self._choice_spaced, scorer=fuzz.token_sort_ratio, dtype=np.float32
        )
        scores = np.maximum(squashed, sorted_tokens)
        for row, span in enumerate(spans):
            if span.prefix_pattern is not None and span.typed_letters >= _MIN_ABBREVIATION_LETTERS:
                for column, name in enumerate(self._choice_squashed):
                    if span.prefix_pattern.fullmatch(name):
                        # What was typed is all there, the rest was left out on purpose.
                        scores[row, column] = max(
                            scores[row, column],
                            _ABBREVIATION_BASE + _ABBREVIATION_SPREAD * span.typed_letters / len(name),
                        )
        scores = scores * self._choice_weight[None, :]
        best_span = scores.argmax(axis=0)
        best_score = scores[best_span, np.arange(scores.shape[1])]
        per_street: dict[int, tuple[float, int]] = {}
        for choice in np.nonzero(best_score >= _MIN_STREET_SCORE)[0]:
            owner, score = int(self._choice_owner[choice]), float(best_score[choice])
            if owner not in per_street or score > per_street[owner][0]:
                per_street[owner] = (score, int(best_span[choice]))
        ranked = sorted(per_street.items(), key=lambda item: (-item[1][0], item[0]))[:_STREETS_TRIED]
        return [
            StreetMatch(owner, score, spans[span].run, spans[span].start, spans[span].end)
            for owner, (score, span) in ranked
        ]

    def _explain(self, query: Query, reading: Reading) -> tuple[int, set[str]]:
        """How many leftover words nothing explains, and the countries the text names."""
        leftover = [i for i in query.word_positions() if i not in reading.used]
        countries: set[str] = set()
        unexplained = 0
        for group in _contiguous(leftover):
            words = [query.tokens[i].text for i in group]
            position = 0
            while position < len(words):
                taken = self._explained_prefix(query, group, words, position, countries)
                if taken == 0:
                    unexplained += 1
                    taken = 1
                position += taken
        return unexplained, countries

    def _explained_prefix(
        self, query: Query, group: list[int], words: list[str], position: int, countries: set[str]
    ) -> int:
        for length in range(min(4, len(words) - position), 0, -1):
            phrase = " ".join(words[position : position + length])
            if phrase in self._localities:
                return length
            iso = self._words.country_names.get(phrase)
            if iso is None and length == 1 and query.code_position(group[position]):
                iso = self._words.country_codes.get(phrase)
            if iso is not None:
                countries.add(iso)
                return length
        word = words[position]
        if word in self._words.unit_words:
            return 1
        # A misspelt town ("Helsinky") is still the town, not part of the street.
        if len(word) >= 5 and process.extractOne(
            squash(word), self._locality_squashed, scorer=fuzz.ratio, score_cutoff=85
        ):
            return 1
        return 0

    def _candidates(self, match: StreetMatch, reading: Reading, query: Query, unexplained: int) -> list[Candidate]:
        street = self._streets[match.street_index]
        addresses = self.index.addresses_by_street.get(street.street_id, ())
        house = reading.house
        if house is None:
            return []
        found: list[Candidate] = []
        for address, fit_name, fit in _fits(addresses, house, reading.letter):
            similarity = match.score / 100.0
            quality = similarity * similarity * fit * (_UNEXPLAINED_WORD_FACTOR ** min(unexplained, 5))
            quality = _with_postcode(quality, query.postcodes, address, street)
            found.append(Candidate(address, street, quality, self._drop_point(address, reading.letter), fit_name))
        return found

    def _drop_point(self, address: Address, staircase: str) -> DropPoint:
        """The address's drop point, or the door of the typed staircase where that door is mapped."""
        if staircase and address.building_id:
            for entrance in self.index.entrances_by_building.get(address.building_id, ()):
                if entrance.ref.lower() == staircase:
                    return DropPoint(
                        entrance.latitude_deg, entrance.longitude_deg, DropPointKind.ENTRANCE, entrance.entrance_id
                    )
        return address.drop_point


def _no_candidate(text: str, status: ResolutionStatus, reason: str) -> Resolution:
    return Resolution(text, status, 0.0, None, (), "", reason)


def _fits(addresses: tuple[Address, ...], house: HouseNumber, letter: str) -> Iterable[tuple[Address, str, float]]:
    exact_key = f"{house.first}{letter}" if letter and not house.is_range else house.key
    exact = [a for a in addresses if a.house.key == exact_key]
    if exact:
        yield from ((a, "exact", _FIT_EXACT) for a in exact)
        return
    if letter:
        base = [a for a in addresses if a.house.key == str(house.first)]
        if base:
            yield from ((a, "staircase", _FIT_STAIRCASE) for a in base)
            return
    lettered = [a for a in addresses if not a.house.is_range and a.house.first == house.first and a.house.letter]
    if lettered and not letter:
        yield from ((a, "any_letter", _FIT_ANY_LETTER) for a in lettered)
        return
    ranges = [a for a in addresses if (a.house.is_range or house.is_range) and a.house.covers(house)]
    yield from ((a, "range", _FIT_RANGE) for a in ranges)


def _with_postcode(quality: float, postcodes: list[str], address: Address, street: Street) -> float:
    """A postcode is weaker evidence than the street: people often type a neighbouring district's.

    One that agrees removes some of the doubt; one that disagrees costs a little. Where only the
    street's postcodes are known (the address has none mapped), both effects are smaller.
    """
    if not postcodes:
        return quality
    typed = {squash(fold(p)) for p in postcodes}
    if address.postcode:
        if squash(fold(address.postcode)) in typed:
            return 1.0 - (1.0 - quality) * _POSTCODE_AGREES_DOUBT
        return quality * _POSTCODE_DISAGREES
    street_codes = {squash(fold(p)) for p in street.postcodes}
    if typed & street_codes:
        return 1.0 - (1.0 - quality) * _STREET_POSTCODE_AGREES_DOUBT
    return quality * _STREET_POSTCODE_DISAGREES if street_codes else quality


def _with_confidence(candidates: list[Candidate]) -> list[Candidate]:
    """Confidence = quality x softmax share against the others and against 'none of them'."""
    qualities = [c.confidence for c in candidates]
    top = max([*qualities, _NONE_OF_THEM_QUALITY])
    weights = [math.exp((q - top) / _SOFTMAX_TEMPERATURE) for q in qualities]
    total = sum(weights) + math.exp((_NONE_OF_THEM_QUALITY - top) / _SOFTMAX_TEMPERATURE)
    rescored = [
        replace(c, confidence=max(0.0, min(1.0, c.confidence * w / total)))
        for c, w in zip(candidates, weights, strict=True)
    ]
    return sorted(rescored, key=lambda c: (-c.confidence, c.address.address_id))


def _contiguous(positions: list[int]) -> list[list[int]]:
    groups: list[list[int]] = []
    for position in positions:
        if groups and groups[-1][-1] == position - 1:
            groups[-1].append(position)
        else:
            groups.append([position])
    return groups
