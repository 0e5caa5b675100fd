"""How people type the address of a building that has no house number (most of Andorra's extract).

They write what they know: the building's name where it has one ("Casa de la Vall"), the street it
is on without a number (or with "s/n", sense número), the village, the parish's postcode (AD100 ..
AD700), in Catalan or with Spanish or French words, with the same slips as any address (no
diacritics, typos, postcode first, floor and door glued on). Like `address_typing`, written apart
from the resolver: only the index's records are read, for the ground truth.

A description names one building only if nothing else fits it: a name no other building has, or a
street on which no other building of the same village lies. Descriptions of buildings that share
their street and village are labelled `shared_street`: no resolver can tell which door is meant,
and the right outcome is a review.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Callable

from fleet_manager.world.addresses import AddressIndex, BuildingPoint

# The parishes under the names Spanish and French senders use.
PARISH_ABROAD = {
    "Andorra la Vella": ["Andorra la Vieja", "Andorre-la-Vieille"],
    "Sant Julià de Lòria": ["San Julián de Loria", "Saint-Julien-de-Lòria"],
    "Escaldes-Engordany": ["Les Escaldes", "Escaldes"],
    "La Massana": ["La Massane"],
}
# Buildings a sender may name that the extract does not have (checked against its names before use).
UNMAPPED_NAMES = [
    "Hotel Plaza", "Farmàcia Central", "Residència Els Pins", "Xalet Montserrat", "Apartaments La Solana",
    "Hotel Font del Marge", "Casa Rossell", "Forn Pujol", "Restaurant Can Benet", "Casa Cerqueda",
]
FLOORS = [", 2n 1a", ", pis 3 porta 2", ", 3º 2ª", ", 1r", ", 3e étage", ", 4t 1a", ", bloc B, 2n"]
# The kinds of `address_typing` that apply to a building without a number (no digraphs in Catalan).
KINDS = (
    "clean", "format", "other_language", "postcode_first", "no_diacritics", "extra_diacritics", "typo",
    "transposed_tokens", "apartment", "abbreviated", "wrong_postcode", "combined",
)
SHORT_TYPES = {"Avinguda": "Av.", "Carrer": "C/", "Plaça": "Pl.", "Carretera": "Ctra.", "Passeig": "Pg."}


class PointTyping:
    """Typed descriptions of the building points of one index, drawn with the generator's random stream."""

    def __init__(
        self,
        index: AddressIndex,
        rng: random.Random,
        plain: Callable[[str], str],
        strip_diacritics: Callable[[str], str],
        one_typo: Callable[[str], str],
        abroad: dict[str, list[str]],
    ) -> None:
        self.index = index
        self.rng = rng
        self.plain = plain
        self.strip = strip_diacritics
        self.one_typo = one_typo
        self.abroad = abroad
        self.street_names = {s.street_id: s.name for s in index.streets}
        places = {plain(name) for name in index.localities} | {plain(s) for s in self.street_names.values()}
        names = Counter(plain(n) for p in index.building_points for n in set(self._names(p, places)))
        self._unique_name = {
            p.building_id: next((n for n in self._names(p, places) if names[plain(n)] == 1), "")
            for p in index.building_points
        }
        # Alone on its street in its village (and postcode: a village split by a parish border has two).
        on_street = Counter((p.street_id, p.locality) for p in index.building_points if p.street_id)
        with_code = Counter((p.street_id, p.locality, p.postcode) for p in index.building_points if p.street_id)
        self._alone_in_village = {
            p.building_id for p in index.building_points if p.street_id and on_street[(p.street_id, p.locality)] == 1
        }
        self._alone_with_postcode = {
            p.building_id
            for p in index.building_points
            if p.street_id and with_code[(p.street_id, p.locality, p.postcode)] == 1
        }
        self.makers: dict[str, Callable[[BuildingPoint], str | None]] = {kind: getattr(self, kind) for kind in KINDS}

    def _names(self, point: BuildingPoint, places: set[str]) -> list[str]:
        """The building's names a person would use to tell it apart (not just its village's or street's)."""
        return [n for n in point.names if len(self.plain(n)) >= 4 and self.plain(n) not in places]

    # --- what a description can say -----------------------------------------------------------------

    def name(self, point: BuildingPoint) -> str:
        """A name only this building has ('' if none)."""
        return self._unique_name.get(point.building_id, "")

    def identifiable(self, point: BuildingPoint, *, without_postcode: bool = False) -> bool:
        """True if a description names this building alone: a unique name, or alone on its street in its village
        (and postcode, unless the description leaves the postcode out or gets it wrong)."""
        alone = self._alone_in_village if without_postcode else self._alone_with_postcode
        return bool(self.name(point)) or point.building_id in alone

    def unknown_buildings(self, count: int) -> list[str]:
        """Up to `count` texts naming an unmapped building on a street where one other building is mapped."""
        known = {self.plain(n) for p in self.index.building_points for n in p.names}
        names = [n for n in UNMAPPED_NAMES if self.plain(n) not in known]
        alone = [p for p in self.index.building_points if p.building_id in self._alone_with_postcode]
        if not names or not alone:
            return []
        return [
            f"{self.rng.choice(names)}, {self.street(point)}, {self.place(point)}"
            for point in self.rng.sample(alone, min(count, len(alone)))
        ]

    def typable(self, point: BuildingPoint) -> bool:
        """True if a sender can describe the building at all (it has a unique name or faces a named street)."""
        return bool(point.street_id) or self.identifiable(point)

    def shared(self, point: BuildingPoint) -> bool:
        """True for a building on a street it shares with others of its village, and without a unique name."""
        return bool(point.street_id) and not self.identifiable(point)

    def street(self, point: BuildingPoint) -> str:
        return self.street_names.get(point.street_id, "")

    def place(self, point: BuildingPoint, locality: str | None = None) -> str:
        return " ".join(p for p in (point.postcode, locality or point.locality) if p)

    def describe(self, point: BuildingPoint, *, name: str | None = None, street: str | None = None) -> str:
        """'<name>, <street>, <postcode> <village>' with what the building has."""
        name = self.name(point) if name is None else name
        street = self.street(point) if street is None else street
        return ", ".join(p for p in (name, street, self.place(point)) if p)

    # --- the kinds (None where the kind does not apply to this building) -----------------------------

    def clean(self, point: BuildingPoint) -> str | None:
        return self.describe(point) if self.identifiable(point) else None

    def street_only(self, point: BuildingPoint) -> str | None:
        """The street and village, no name and no number: what a sender types who knows no more."""
        street = self.street(point)
        return f"{street}, {self.place(point)}" if street else None

    def format(self, point: BuildingPoint) -> str | None:
        if not self.identifiable(point):
            return None
        name, street = self.name(point), self.street(point)
        options = [
            self.describe(point),
            self.describe(point) + ", Andorra",
            self.describe(point).upper(),
            self.describe(point).lower(),
            ", ".join(p for p in (name, street and f"{street} s/n", self.place(point)) if p),
            "\n".join(p for p in (name, street, self.place(point)) if p),
        ]
        if self.identifiable(point, without_postcode=True):
            options.append(", ".join(p for p in (name, street, point.locality) if p))
        return self.rng.choice(options)

    def other_language(self, point: BuildingPoint) -> str | None:
        if not self.identifiable(point):
            return None
        name = self.name(point)
        variants = [n for n in point.names if self.plain(n) != self.plain(name) and len(self.plain(n)) >= 4]
        street = self.street(point)
        words = street.split()
        if words and words[0] in self.abroad:
            street = " ".join([self.rng.choice(self.abroad[words[0]]), *words[1:]])
        elif variants and name:
            name = self.rng.choice(variants)
        text = ", ".join(p for p in (name, street, self.place(point)) if p)
        if point.parish in PARISH_ABROAD:  # "..., AD500 Santa Coloma, Andorre-la-Vieille"
            text += f", {self.rng.choice(PARISH_ABROAD[point.parish])}"
        return text

    def postcode_first(self, point: BuildingPoint) -> str | None:
        if not self.identifiable(point) or not point.postcode:
            return None
        rest = ", ".join(p for p in (self.name(point), self.street(point)) if p)
        return self.rng.choice([f"{self.place(point)}, {rest}", f"{point.postcode} {point.locality} {rest}"])

    def no_diacritics(self, point: BuildingPoint) -> str | None:
        text = self.clean(point)
        return self.strip(text) if text and self.strip(text) != text else None

    def extra_diacritics(self, point: BuildingPoint) -> str | None:
        if not self.identifiable(point):
            return None
        accents = {"a": "àá", "e": "èé", "i": "í", "o": "òó", "u": "ú"}
        target = self.name(point) or self.street(point)
        positions = [i for i, c in enumerate(target) if c in accents]
        if not positions:
            return None
        letters = list(target)
        i = self.rng.choice(positions)
        letters[i] = self.rng.choice(accents[letters[i]])
        changed = "".join(letters)
        if self.name(point):
            return self.describe(point, name=changed)
        return self.describe(point, street=changed)

    def typo(self, point: BuildingPoint) -> str | None:
        if not self.identifiable(point):
            return None
        if self.name(point) and len(self.name(point)) >= 6:
            return self.describe(point, name=self.one_typo(self.name(point)))
        if len(self.street(point)) >= 6:
            return self.describe(point, street=self.one_typo(self.street(point)))
        return None

    def transposed_tokens(self, point: BuildingPoint) -> str | None:
        if not self.identifiable(point):
            return None
        parts = [p for p in (self.name(point), self.street(point)) if p]
        return ", ".join(p for p in (self.place(point), *reversed(parts)) if p)

    def apartment(self, point: BuildingPoint) -> str | None:
        if not self.identifiable(point):
            return None
        head = ", ".join(p for p in (self.name(point), self.street(point)) if p)
        return f"{head}{self.rng.choice(FLOORS)}, {self.place(point)}".strip(" ,")

    def abbreviated(self, point: BuildingPoint) -> str | None:
        words = self.street(point).split()
        if not self.identifiable(point) or not words or words[0] not in SHORT_TYPES:
            return None
        return self.describe(point, street=" ".join([SHORT_TYPES[words[0]], *words[1:]]))

    def wrong_postcode(self, point: BuildingPoint) -> str | None:
        """A neighbouring parish's postcode: the village and street still say where."""
        others = sorted({p.postcode for p in self.index.building_points if p.postcode and p.postcode != point.postcode})
        if not self.identifiable(point, without_postcode=True) or not others or not point.postcode:
            return None
        text = self.describe(point)
        return text.replace(point.postcode, self.rng.choice(others), 1)

    def combined(self, point: BuildingPoint) -> str | None:
        """A hurried sender on a foreign keyboard: no diacritics, a typo, a floor, maybe postcode first."""
        if not self.identifiable(point):
            return None
        name, street = self.name(point), self.street(point)
        if name and len(name) >= 6 and self.rng.random() < 0.6:
            name = self.one_typo(name)
        elif street and len(street) >= 6 and self.rng.random() < 0.6:
            street = self.one_typo(street)
        head = ", ".join(p for p in (name, street) if p)
        if self.rng.random() < 0.5:
            head += self.rng.choice(FLOORS)
        text = f"{self.place(point)} {head}" if self.rng.random() < 0.4 else f"{head}, {self.place(point)}"
        text = self.strip(text) if self.rng.random() < 0.6 else text
        return re.sub(r"\s+", " ", text.lower() if self.rng.random() < 0.5 else text).strip(" ,")
