"""How people type addresses: labelled queries generated from a world's real (OSM) addresses.

Used by the accuracy benchmark (`python -m benchmarks addresses`) and by simulated days, whose
typed-address orders keep the right answer for scoring.

Written from how addresses arrive in cross-border orders, not from the resolver: nothing here
imports the resolver or its text folding (`fleet_manager.world.address_text`). The generator reads
the index only for the ground truth (street names as mapped, house numbers, postcodes, the building
each address is in) and writes the text the way a person would: other formats and languages,
postcode first, diacritics dropped, spelt with digraphs or added, keyboard typos, words in another
order, a staircase and flat glued on, abbreviations, and addresses that are not in the world.
"""

from __future__ import annotations

import difflib
import random
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from fleet_manager.world.addresses import Address, AddressIndex, BuildingPoint, Street

from .point_typing import PointTyping

# Kinds whose every query names an address that exists; `not_in_world` queries must not resolve.
POSITIVE_KINDS = (
    "clean",
    "format",
    "other_language",
    "postcode_first",
    "no_diacritics",
    "digraphs",
    "extra_diacritics",
    "typo",
    "transposed_tokens",
    "apartment",
    "abbreviated",
    "wrong_postcode",
    "combined",
)
NEGATIVE_KINDS = ("wrong_number", "street_elsewhere")
# A building without a number described by its street and village only, where other buildings share both:
# the text fits several doors, so the right outcome is a review (worlds with building points only).
AMBIGUOUS_KINDS = ("shared_street",)
# A building the map does not have, named on a street whose only mapped building is another: must not resolve.
POINT_NEGATIVE_KINDS = ("unknown_building",)
# Addresses a person typed so that no resolver can be sure (the right door needs a person): simulated days
# only, never in the accuracy benchmark (they are not meant to resolve on their own).
REVIEW_KINDS = ("missing_number",)
KINDS = POSITIVE_KINDS + NEGATIVE_KINDS

COUNTRY_NAMES = {
    "FI": ["Finland", "Suomi", "FI", "Finnland"],
    "AD": ["Andorra", "Andorre", "AD", "Principat d'Andorra"],
}
SWEDISH_CITY = {"Helsinki": "Helsingfors"}
# Streets of the same countries that are not in the worlds' extracts (central Helsinki, Andorra):
# a customer outside the service area types one of these.
STREETS_ELSEWHERE = {
    "FI": [
        "Hämeentie",
        "Mechelininkatu",
        "Runeberginkatu",
        "Mäkelänkatu",
        "Itämerenkatu",
        "Sörnäisten rantatie",
        "Lauttasaarentie",
        "Tukholmankatu",
        "Porthaninkatu",
        "Vaasankatu",
        "Kaarlenkatu",
        "Topeliuksenkatu",
        "Nordenskiöldinkatu",
        "Pasilankatu",
        "Sturenkatu",
        "Helsinginkatu",
        "Kulosaarentie",
        "Ruoholahdenkatu",
        "Mannerheimintie",
        "Kalevalantie",
        "Koivukuja",
        "Tehtaankatu",
        "Merimiehenkatu",
        "Pursimiehenkatu",
        "Fleminginkatu",
        "Agricolankatu",
        "Castréninkatu",
        "Intiankatu",
        "Kustaankatu",
        "Kirkkokatu",
        "Laivurinkatu",
        "Neitsytpolku",
        "Ratakatu",
        "Sepänkatu",
        "Telakkakatu",
        "Vuorimiehenkatu",
    ],
    "AD": [
        "Carrer de Balmes",
        "Avinguda Diagonal",
        "Carrer de Mallorca",
        "Passeig de Gràcia",
        "Carrer de Sants",
        "Rambla de Catalunya",
        "Carrer de Muntaner",
        "Carrer d'Aragó",
        "Via Augusta",
        "Carrer de Pujades",
        "Carrer del Bruc",
        "Carrer de Provença",
        "Carrer de Girona",
        "Avinguda de Roma",
        "Carrer de Pau Claris",
    ],
}
# What Spanish and French speakers write for a Catalan street-type word.
CATALAN_TYPES_ABROAD = {
    "Carrer": ["Calle", "Rue", "C/"],
    "Avinguda": ["Avenida", "Avenue", "Av.", "Avda."],
    "Plaça": ["Plaza", "Place", "Pl."],
    "Carretera": ["Carretera", "Route", "Ctra."],
    "Camí": ["Camino", "Chemin"],
    "Passeig": ["Paseo", "Promenade"],
}
# Finnish/Swedish street words people shorten ("Aleksanterink. 9", "Norra espl. 33").
NORDIC_ABBREVIATIONS = [("esplanadi", "espl."), ("esplanaden", "espl."), ("katu", "k."), ("gatan", "g."), ("tie", "t.")]
# QWERTY neighbours (the Nordic layout adds ö and ä to the right of l).
KEYBOARD_ROWS = ["qwertyuiopå", "asdfghjklöä", "zxcvbnm"]
ACCENTS = {"a": "áàä", "e": "éèë", "i": "íï", "o": "óòö", "u": "úüù", "c": "ç", "n": "ñ"}


@dataclass(frozen=True)
class LabelledQuery:
    """One typed address and what it should resolve to (None: it must not resolve)."""

    world: str
    kind: str
    text: str
    expected_target: str | None  # building_id, or address_id where the address has no building
    truth: str  # the address as mapped (or the building's label), for reading failures


def strip_diacritics(text: str) -> str:
    """What a keyboard without Nordic or Catalan letters produces: 'Töölö' -> 'Toolo'."""
    return "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))


def plain(text: str) -> str:
    """Lower-case, no diacritics, letters only: to compare names (never shown to the resolver)."""
    return re.sub(r"[^a-z0-9]", "", strip_diacritics(text).lower())


class QueryGenerator:
    """Makes labelled queries for one world's index with one seed."""

    def __init__(self, world: str, index: AddressIndex, seed: int) -> None:
        self.world = world
        self.index = index
        self.rng = random.Random(seed)
        self.streets = {s.street_id: s for s in index.streets}
        self.by_street: dict[str, list[Address]] = {}
        for address in index.addresses:
            self.by_street.setdefault(address.street_id, []).append(address)
        cities = [a.city for a in index.addresses if a.city]
        self.default_city = max(set(cities), key=cities.count) if cities else ""
        self.makers: dict[str, Callable[[Address], str | None]] = {
            "clean": self.clean,
            "format": self.format,
            "other_language": self.other_language,
            "postcode_first": self.postcode_first,
            "no_diacritics": self.no_diacritics,
            "digraphs": self.digraphs,
            "extra_diacritics": self.extra_diacritics,
            "typo": self.typo,
            "transposed_tokens": self.transposed_tokens,
            "apartment": self.apartment,
            "abbreviated": self.abbreviated,
            "wrong_postcode": self.wrong_postcode,
            "combined": self.combined,
        }
        self.points = PointTyping(index, self.rng, plain, strip_diacritics, self._one_typo, CATALAN_TYPES_ABROAD)

    def typed(self, kind: str, target: Address | BuildingPoint) -> str | None:
        """A text of this kind for an address or a building point; None where the kind does not fit it.

        `missing_number` (simulated days) is the street without a number; for a building point, its street
        and village without its name.
        """
        if isinstance(target, BuildingPoint):
            if kind == "missing_number":
                return self.points.street_only(target)
            point_maker = self.points.makers.get(kind)
            return point_maker(target) if point_maker is not None else None
        maker = self.makers.get(kind)
        return maker(target) if maker is not None else self.missing_number(target)

    def generate(self, per_kind: int) -> list[LabelledQuery]:
        """Up to `per_kind` queries of each kind (fewer where the world has fewer fitting addresses)."""
        queries: list[LabelledQuery] = []
        targets: list[Address | BuildingPoint] = list(self.index.addresses)
        targets += [p for p in self.index.building_points if self.points.identifiable(p)]
        for kind in self.makers:
            made: list[LabelledQuery] = []
            for target in self.rng.sample(targets, len(targets)):
                text = self.typed(kind, target)
                if text is None:
                    continue
                made.append(LabelledQuery(self.world, kind, text, target.target_id, self.truth(target)))
                if len(made) >= per_kind:
                    break
            queries.extend(made)
        queries.extend(self.wrong_numbers(per_kind))
        queries.extend(self.streets_elsewhere(per_kind))
        queries.extend(self.shared_streets(per_kind))
        queries.extend(self.unknown_buildings(per_kind))
        return queries

    def unknown_buildings(self, count: int) -> list[LabelledQuery]:
        """A name the map does not know, on the street of a building that is alone there: another door."""
        texts = self.points.unknown_buildings(count)
        return [LabelledQuery(self.world, "unknown_building", text, None, f"{text} (not mapped)") for text in texts]

    def shared_streets(self, count: int) -> list[LabelledQuery]:
        """Buildings typed by a street and village they share with other buildings (expected: a review)."""
        shared = [p for p in self.index.building_points if self.points.shared(p)]
        queries = []
        for point in self.rng.sample(shared, min(count, len(shared))):
            text = self.points.street_only(point)
            if text is not None:
                queries.append(LabelledQuery(self.world, "shared_street", text, point.building_id, point.label))
        return queries

    # --- pieces of an address as the person knows them -------------------------------------------

    def street(self, address: Address) -> Street:
        return self.streets[address.street_id]

    def missing_number(self, address: Address) -> str | None:
        """The recipient left the house number out: the street and place only (a reviewer must find the door)."""
        if len(self.by_street.get(address.street_id, ())) < 2:
            return None
        place = self.place(address)
        name = self.street(address).name
        return f"{name}, {place}" if place else name

    def city(self, address: Address) -> str:
        return address.city or self.default_city

    def postcode(self, address: Address) -> str:
        if address.postcode:
            return address.postcode
        codes = self.street(address).postcodes
        return codes[0] if len(codes) == 1 else ""

    def truth(self, target: Address | BuildingPoint) -> str:
        if isinstance(target, BuildingPoint):
            return target.label
        return f"{self.street(target).name} {target.housenumber}"

    def place(self, address: Address, city: str | None = None) -> str:
        return " ".join(p for p in (self.postcode(address), city or self.city(address)) if p)

    def staircase_letters(self, address: Address) -> list[str]:
        """Staircase letters that do not name another mapped house number on the street."""
        taken = {
            a.house.letter.upper() for a in self.by_street[address.street_id] if a.house.first == address.house.first
        }
        return [letter for letter in "ABCDEF" if letter not in taken] or ["A"]

    # --- the kinds ---------------------------------------------------------------------------------

    def clean(self, address: Address) -> str:
        place = self.place(address)
        text = f"{self.street(address).name} {address.housenumber}"
        return f"{text}, {place}" if place else text

    def format(self, address: Address) -> str:
        name, number, city = self.street(address).name, address.housenumber, self.city(address)
        code = self.postcode(address)
        country = self.rng.choice(COUNTRY_NAMES.get(self.index.country, [""]))
        options = [
            f"{name} {number}",
            f"{name} {number} {code} {city}",
            f"{name} {number}, {city}",
            f"{name} {number}, {code} {city}, {country}",
            f"{name}, {number}, {code}, {city}",
            f"{name} {number}\n{code} {city}",
            f"{name} {number}, {code} {city}".upper(),
            f"{name} {number}, {city}".lower(),
        ]
        return re.sub(r"\s+,", ",", re.sub(r"[ ]+", " ", self.rng.choice(options))).strip(" ,")

    def other_language(self, address: Address) -> str | None:
        street = self.street(address)
        if self.index.country == "AD":
            words = street.name.split()
            if not words or words[0] not in CATALAN_TYPES_ABROAD:
                return None
            name = " ".join([self.rng.choice(CATALAN_TYPES_ABROAD[words[0]]), *words[1:]])
            return f"{name} {address.housenumber}, {self.place(address)}".strip(" ,")
        swedish = [value for tag, value in street.names if tag == "name:sv" and plain(value) != plain(street.name)]
        if not swedish:
            return None
        city = SWEDISH_CITY.get(self.city(address), self.city(address))
        return f"{swedish[0]} {address.housenumber}, {self.place(address, city)}".strip(" ,")

    def postcode_first(self, address: Address) -> str | None:
        code = self.postcode(address)
        if not code:
            return None
        name, number, city = self.street(address).name, address.housenumber, self.city(address)
        prefix = f"{self.index.country}-{code}" if self.index.country == "FI" else code
        return self.rng.choice(
            [f"{code} {city}, {name} {number}", f"{prefix} {city} {name} {number}", f"{code} {name} {number}"]
        )

    def no_diacritics(self, address: Address) -> str | None:
        text = self.clean(address)
        stripped = strip_diacritics(text)
        return stripped if stripped != text else None

    def digraphs(self, address: Address) -> str | None:
        text = self.clean(address)
        digraphs: dict[str, str | int | None] = {"ä": "ae", "ö": "oe", "å": "aa", "Ä": "Ae", "Ö": "Oe", "Å": "Aa"}
        spelt = text.translate(str.maketrans(digraphs))
        return spelt if spelt != text else None

    def extra_diacritics(self, address: Address) -> str | None:
        name = self.street(address).name
        positions = [i for i, c in enumerate(name) if c in ACCENTS]
        if not positions:
            return None
        letters = list(name)
        for i in self.rng.sample(positions, min(len(positions), self.rng.choice([1, 2]))):
            letters[i] = self.rng.choice(ACCENTS[letters[i]])
        place = self.place(address)
        text = f"{''.join(letters)} {address.housenumber}"
        return f"{text}, {place}" if place else text

    def typo(self, address: Address) -> str | None:
        name = self.street(address).name
        if len(name) < 6:
            return None
        edits = 2 if len(name) >= 14 and self.rng.random() < 0.3 else 1
        for _ in range(edits):
            name = self._one_typo(name)
        place = self.place(address)
        return f"{name} {address.housenumber}" + (f", {place}" if place else "")

    def _one_typo(self, name: str) -> str:
        letters = [i for i, c in enumerate(name) if c.isalpha() and i > 0]
        i = self.rng.choice(letters)
        how = self.rng.choice(["neighbour", "drop", "double", "swap"])
        if how == "neighbour":
            lower = name[i].lower()
            row = next((r for r in KEYBOARD_ROWS if lower in r), None)
            if row is None:
                return name[:i] + name[i + 1 :]
            j = row.index(lower)
            near = [row[k] for k in (j - 1, j + 1) if 0 <= k < len(row)]
            return name[:i] + self.rng.choice(near) + name[i + 1 :]
        if how == "drop":
            return name[:i] + name[i + 1 :]
        if how == "double":
            return name[:i] + name[i] + name[i:]
        if i + 1 < len(name) and name[i + 1].isalpha():
            return name[:i] + name[i + 1] + name[i] + name[i + 2 :]
        return name[:i] + name[i + 1 :]

    def transposed_tokens(self, address: Address) -> str:
        name, number, city = self.street(address).name, address.housenumber, self.city(address)
        words = name.split()
        options = [f"{number} {name}, {self.place(address)}", f"{city} {name} {number}", f"{number}, {name}, {city}"]
        if len(words) >= 2:
            options.append(f"{' '.join(words[1:])} {words[0]} {number}, {city}")
        return self.rng.choice(options).strip(" ,")

    def apartment(self, address: Address) -> str:
        name, place = self.street(address).name, self.place(address)
        base = str(address.house.first) if not address.house.is_range else address.housenumber
        letter = address.house.letter.upper() or self.rng.choice(self.staircase_letters(address))
        flat = self.rng.randint(1, 120)
        if self.index.country == "AD":
            floor_, door = self.rng.randint(1, 6), self.rng.randint(1, 4)
            suffix = self.rng.choice(
                [
                    f", {floor_}{'r' if floor_ in (1, 3) else 'n' if floor_ == 2 else 't'} {door}a",
                    f", pis {floor_} porta {door}",
                    f", {floor_}º {door}ª",
                    f" {floor_}-{door}",
                    f", {floor_}e étage",
                ]
            )
            return f"{name} {base}{suffix}, {place}".strip(" ,")
        with_letter = [
            f" {letter} {flat}",
            f"{letter} {flat}",
            f" {letter}{flat}",
            f" {letter} as {flat}",
            f" {letter}",
            f"{letter}",
            f", {letter} {flat}",
            f"{letter} as. {flat}",
        ]
        without_letter = [f" as. {flat}", f" lgh {flat}", f" asunto {flat}"]
        # A mapped "13 A" is another door than "13": its letter is part of the address, never dropped.
        suffix = self.rng.choice(with_letter if address.house.letter else with_letter + without_letter)
        text = f"{name} {base}{suffix}"
        return f"{text}, {place}" if place and self.rng.random() < 0.6 else text

    def abbreviated(self, address: Address) -> str | None:
        name = self.street(address).name
        words = name.split()
        if self.index.country == "AD":
            short = {"Avinguda": "Av.", "Carrer": "C/", "Plaça": "Pl.", "Carretera": "Ctra."}
            if not words or words[0] not in short:
                return None
            shortened = " ".join([short[words[0]], *words[1:]])
        else:
            for long, short_form in NORDIC_ABBREVIATIONS:
                if name.lower().endswith(long) and len(name) > len(long) + 3:
                    shortened = name[: len(name) - len(long)] + short_form
                    break
            else:
                return None
        return f"{shortened} {address.housenumber}, {self.city(address)}"

    def wrong_postcode(self, address: Address) -> str | None:
        """The right street and number with a neighbouring district's postcode (a common slip)."""
        code = self.postcode(address)
        others = sorted({a.postcode for a in self.index.addresses if a.postcode and a.postcode != code})
        if not code or not others:
            return None
        return f"{self.street(address).name} {address.housenumber}, {self.rng.choice(others)} {self.city(address)}"

    def combined(self, address: Address) -> str:
        """Several slips at once, as a hurried customer on a foreign keyboard makes them."""
        street = self.street(address)
        name = street.name
        other = [v for t, v in street.names if t in ("name:sv", "name:es", "name:fr") and plain(v) != plain(name)]
        if other and self.rng.random() < 0.4:
            name = self.rng.choice(other)
        if len(name) >= 6 and self.rng.random() < 0.6:
            name = self._one_typo(name)
        if self.rng.random() < 0.6:
            name = strip_diacritics(name)
        number = address.housenumber.replace(" ", "")
        with_flat = number
        if not address.house.is_range:
            letter = address.house.letter.upper() or self.rng.choice(self.staircase_letters(address))
            with_flat = f"{address.house.first}{letter}{self.rng.choice(['', ' '])}{self.rng.randint(1, 90)}"
        code, city = self.postcode(address), self.city(address)
        layout = self.rng.choice(["postcode_first", "number_first", "plain"])
        if layout == "postcode_first" and code:
            text = f"{code} {city} {name} {self.rng.choice([number, with_flat])}"
        elif layout == "number_first":  # English order; a flat goes after the street, never between
            text = f"{number} {name}, {city}"
        else:
            text = f"{name} {self.rng.choice([number, with_flat])} {code} {city}"
        return re.sub(r"\s+", " ", text.lower() if self.rng.random() < 0.5 else text).strip()

    def one_slip_from_another(self, street_id: str) -> bool:
        """True for a street whose name is a one-letter slip of another street's ('Kluuvinkatu', 'Kluuvikatu').

        OSM has a few such misspelt addr:street values; a number missing on one of them may exist on the
        other, and resolving there is right, so such streets make no clean 'not in the world' query.
        """
        own = {plain(v) for _, v in self.streets[street_id].names}
        others = {plain(v) for s in self.index.streets if s.street_id != street_id for _, v in s.names}
        return any(_one_slip(a, b) for a in own for b in others)

    # --- addresses that are not in the world ---------------------------------------------------------

    def wrong_numbers(self, count: int) -> list[LabelledQuery]:
        """Real streets of the world with a number nothing on them has (nor any range covers)."""
        queries: list[LabelledQuery] = []
        street_ids = [s for s in self.by_street if self.by_street[s] and not self.one_slip_from_another(s)]
        for _ in range(count * 4):
            if len(queries) >= count or not street_ids:
                break
            street_id = self.rng.choice(street_ids)
            mapped = self.by_street[street_id]
            number = self.rng.randint(1, 160)
            if any(a.house.first <= number <= a.house.last for a in mapped):
                continue
            street = self.streets[street_id]
            text = self.rng.choice([f"{street.name} {number}", f"{street.name} {number}, {self.default_city}"])
            queries.append(LabelledQuery(self.world, "wrong_number", text, None, f"{street.name} {number} (unmapped)"))
        return queries

    def streets_elsewhere(self, count: int) -> list[LabelledQuery]:
        """Real streets of the same country outside the world's extract."""
        in_world = {plain(value) for s in self.index.streets for _, value in s.names}
        names = [
            n
            for n in STREETS_ELSEWHERE.get(self.index.country, [])
            if plain(n) not in in_world and not any(_one_slip(plain(n), other) for other in in_world)
        ]
        queries: list[LabelledQuery] = []
        for _ in range(count if names else 0):
            name = self.rng.choice(names)
            number = self.rng.randint(1, 60)
            city = self.default_city
            text = self.rng.choice([f"{name} {number}", f"{name} {number}, {city}"])
            queries.append(LabelledQuery(self.world, "street_elsewhere", text, None, f"{name} {number} (elsewhere)"))
        return queries


def _one_slip(a: str, b: str) -> bool:
    """Names that differ by about one keystroke (difflib, independent of the resolver's rapidfuzz)."""
    return a != b and difflib.SequenceMatcher(None, a, b).ratio() >= 0.9
