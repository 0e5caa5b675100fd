"""Matching typed text to building points (buildings with no street address): by the building's name,
or by the street it faces, checked against the village, parish and postcode typed.

Pure; used by `address_resolver`, which turns the hits into candidates and confidences. Nothing
here picks one of several buildings on one street: each gets the same quality, so the resolver's
softmax splits the confidence between them and the order goes to a person (a wrong door is worse
than a review).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from rapidfuzz import fuzz, process

from .address_query import Query, Reading, StreetMatch
from .address_text import fold, locale, squash
from .addresses import AddressIndex, BuildingPoint

_MIN_NAME_SCORE = 85.0  # rapidfuzz 0..100: a building name typed with a slip still names it
_MIN_NAME_LETTERS = 4  # shorter names ("Bar") are not told apart from other words
_MAX_NAME_WORDS = 12
_PLACE_MAX_WORDS = 4
# Evidence factors on a hit's quality (0..1).
_LOCALITY_AGREES = 1.0
_PARISH_ONLY_AGREES = 0.93  # the parish typed, not the village: the village may be another of the parish's
# Another village typed (or a parish it is not in): the street may run through both, but the text points
# elsewhere, and a postcode of the same parish does not undo that.
_PLACE_DISAGREES = 0.7
_OTHER_STREET_TYPED = 0.9  # a name matched, but the street typed is not the one the building faces
_STREET_AGREES_DOUBT = 0.5  # a name matched and the building faces the street typed: half the doubt goes
# A building name is typed, and this building is not it: its street alone is weak evidence for it.
_ANOTHER_BUILDING_NAMED = 0.6
_SURE_STREET = 85.0  # street matches at least this good explain their words (a name inside them is the street's)
# Words nothing explains beside a street typed without a number ("Hotel Plaza, Carrer de la Tartera"): the text
# names a building the map does not know, so the street's own building may well be another door.
_UNKNOWN_NAME_WORDS = 2
_UNKNOWN_NAME = 0.75
_POSTCODE_AGREES_DOUBT = 0.6
_POSTCODE_DISAGREES = 0.88
# A house number typed on a street whose buildings carry none: the door cannot be checked, so these
# hits stay below any sensible review threshold and go to a person.
_UNMAPPED_NUMBER = 0.7
# Letters glued to a number that make it a floor, not a house number: Catalan 1r 2n 3r 4t, Spanish
# 1º (folds to 1o), French 1e / 1er.
_FLOOR_LETTERS = frozenset("rnote")


@dataclass(frozen=True)
class PointHit:
    """A building point the text may mean, with its quality before the softmax."""

    point: BuildingPoint
    quality: float
    fit: str  # name, street, unmapped_number
    unit: str


@dataclass(frozen=True)
class _NameMatch:
    point_index: int
    score: float
    used: frozenset[int]


class BuildingPointMatcher:
    """Finds building points by name and street in a query (build once per index)."""

    def __init__(self, index: AddressIndex, localities: set[str], *, unexplained_word_factor: float) -> None:
        self.points = index.building_points
        self._by_street = index.points_by_street
        self._word_factor = unexplained_word_factor
        self._localities = localities
        street_names = {fold(name) for street in index.streets for _, name in street.names}
        spaced: list[str] = []
        owners: list[int] = []
        for position, point in enumerate(self.points):
            for name in point.names:
                folded = fold(name)
                # A building called like its village or street ("Encamp") names nothing more than them.
                if len(squash(folded)) < _MIN_NAME_LETTERS or folded in localities or folded in street_names:
                    continue
                spaced.append(folded)
                owners.append(position)
        self._names_spaced = spaced
        self._names_squashed = [squash(s) for s in spaced]
        self._name_owner = owners
        words = locale()
        region_names: dict[str, set[str]] = {
            postcode: {fold(n) for n in names} for postcode, names in words.regions.get(index.country, ())
        }
        # Per building, folded once: its village, the names of its parish, its postcode.
        self._village = {p.building_id: fold(p.locality) for p in self.points}
        self._parish = {
            p.building_id: {fold(p.parish)} | region_names.get(p.postcode, set()) for p in self.points
        }
        self._postcode = {p.building_id: squash(fold(p.postcode)) for p in self.points}

    def hits(
        self,
        query: Query,
        street_matches: list[StreetMatch],
        read: Callable[[StreetMatch], Reading],
        unexplained: Callable[[frozenset[int]], int],
        street_ids: list[str],
    ) -> list[PointHit]:
        """Every building point the query may mean: named in it, or facing a street matched in it.

        `street_ids[i]` is the street of `street_matches[i]`; `read` reads the number and unit next to
        a street match; `unexplained(used)` counts the words nothing explains once `used` are taken.
        """
        if not self.points:
            return []
        street_words = [frozenset(range(m.start, m.end)) for m in street_matches if m.score >= _SURE_STREET]
        places = self._typed_places(query, street_words)
        postcodes = {squash(fold(p)) for p in query.postcodes}
        by_street = {street_id: match for street_id, match in zip(street_ids, street_matches, strict=True)}
        found: dict[str, PointHit] = {}
        named: set[str] = set()
        for name in self._name_matches(query, street_words):
            point = self.points[name.point_index]
            named.add(point.building_id)
            match = by_street.get(point.street_id)
            used = set(name.used)
            quality = (name.score / 100.0) ** 2
            if match is not None:
                used |= read(match).used
                quality = 1.0 - (1.0 - quality) * _STREET_AGREES_DOUBT
            elif street_matches and street_matches[0].score >= _SURE_STREET:
                quality *= _OTHER_STREET_TYPED
            quality = self._with_place(quality * self._factor(unexplained(frozenset(used))), point, places, postcodes)
            _keep(found, PointHit(point, quality, "name", ""))
        for street_id, match in by_street.items():
            candidates = self._by_street.get(street_id, ()) if street_id else ()
            if not candidates:
                continue
            reading = read(match)
            # Doubts about the door, applied after the village and postcode (which say where, not which door).
            door, fit = 1.0, "street"
            # read_around moves a glued letter from the number to `letter`: "3r" is number 3, letter r.
            if reading.house is not None and (reading.letter or reading.house.letter) not in _FLOOR_LETTERS:
                door, fit = _UNMAPPED_NUMBER, "unmapped_number"
            words = unexplained(reading.used)
            if words >= _UNKNOWN_NAME_WORDS:
                door *= _UNKNOWN_NAME
            similarity = match.score / 100.0
            base = similarity * similarity * self._factor(words)
            for point in candidates:
                quality = self._with_place(base, point, places, postcodes) * door
                if named and point.building_id not in named:
                    quality *= _ANOTHER_BUILDING_NAMED
                _keep(found, PointHit(point, quality, fit, reading.unit))
        return list(found.values())

    def _factor(self, unexplained_words: int) -> float:
        return float(self._word_factor ** min(unexplained_words, 5))

    def _name_matches(self, query: Query, street_words: list[frozenset[int]]) -> list[_NameMatch]:
        """The best span naming each building; a span inside a well-matched street's words is the street's
        ("Sant Andreu" in "Carrer Sant Andreu"), not a building's name."""
        if not self._names_spaced:
            return []
        # Every run of words, up to long names ("Iglesia de Sant Miquel i Sant Joan de la Mosquera").
        spans = [
            (" ".join(query.tokens[i].text for i in run[start:end]), frozenset(run[start:end]))
            for run in query.runs
            for start in range(len(run))
            for end in range(start + 1, min(len(run), start + _MAX_NAME_WORDS) + 1)
            if not any(set(run[start:end]) <= words for words in street_words)
        ]
        if not spans:
            return []
        texts = [text for text, _ in spans]
        squashed = process.cdist([squash(t) for t in texts], self._names_squashed, scorer=fuzz.ratio, dtype=np.float32)
        sorted_tokens = process.cdist(texts, self._names_spaced, scorer=fuzz.token_sort_ratio, dtype=np.float32)
        scores = np.maximum(squashed, sorted_tokens)
        best: dict[int, _NameMatch] = {}
        rows, columns = np.nonzero(scores >= _MIN_NAME_SCORE)
        for row, column in zip(rows.tolist(), columns.tolist(), strict=True):
            owner, score = self._name_owner[column], float(scores[row, column])
            if owner not in best or (score, len(spans[row][1])) > (best[owner].score, len(best[owner].used)):
                best[owner] = _NameMatch(owner, score, spans[row][1])
        return list(best.values())

    def _typed_places(self, query: Query, street_words: list[frozenset[int]]) -> set[str]:
        """Folded names of the villages and parishes the text names (exactly, or one slip away), outside the
        words of well-matched streets ("Arinsal" in "Carretera d'Arinsal" is the street's name)."""
        places: set[str] = set()
        in_street = set().union(*street_words) if street_words else set()
        segments: list[list[int]] = []
        for run in query.runs:
            segments.append([])
            for position in run:
                if position in in_street:
                    segments.append([])
                else:
                    segments[-1].append(position)
        for segment in segments:
            words = [query.tokens[i].text for i in segment]
            for start in range(len(words)):
                for end in range(start + 1, min(len(words), start + _PLACE_MAX_WORDS) + 1):
                    phrase = " ".join(words[start:end])
                    if phrase in self._localities:
                        places.add(phrase)
            for word in words:
                if len(word) >= 5 and word not in places:
                    hit = process.extractOne(word, self._localities, scorer=fuzz.ratio, score_cutoff=85)
                    if hit is not None:
                        places.add(hit[0])
        return places

    def _with_place(self, quality: float, point: BuildingPoint, places: set[str], postcodes: set[str]) -> float:
        """Quality checked against the postcode typed (as for street addresses), then the village or parish."""
        if postcodes and point.postcode:
            if self._postcode[point.building_id] in postcodes:
                quality = 1.0 - (1.0 - quality) * _POSTCODE_AGREES_DOUBT
            else:
                quality *= _POSTCODE_DISAGREES
        factor = 1.0
        if places:
            if self._village[point.building_id] in places:
                factor = _LOCALITY_AGREES
            elif self._parish[point.building_id] & places:
                factor = _PARISH_ONLY_AGREES
            else:
                factor = _PLACE_DISAGREES
        return quality * factor


def _keep(found: dict[str, PointHit], hit: PointHit) -> None:
    known = found.get(hit.point.building_id)
    if known is None or hit.quality > known.quality:
        found[hit.point.building_id] = hit

