"""Andorra's buildings without a house number as address targets: the index holds each with the world's derived
drop point, the parish postcode and its names; the resolver finds one by name or by a street it has to itself, and
sends a street several buildings share to review instead of picking a door; the sim's day types them."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from benchmarks.bench_addresses import confident_wrong, correct, measure
from fleet_manager.address_intake import destination_of, destination_of_target
from fleet_manager.world import load_world
from fleet_manager.world.address_resolver import AddressResolver, ResolutionStatus
from fleet_manager.world.addresses import AddressIndex, BuildingPoint, address_index_for_world
from sim_worlds.address_typing import AMBIGUOUS_KINDS, NEGATIVE_KINDS, QueryGenerator
from sim_worlds.scenario import load_scenario
from sim_worlds.special_demand import day_orders


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> AddressIndex:
    return address_index_for_world("andorra", cache_dir=tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="module")
def resolver(index: AddressIndex) -> AddressResolver:
    return AddressResolver(index)


def _named(index: AddressIndex, name: str) -> BuildingPoint:
    return next(p for p in index.building_points if name in p.names)


def test_every_derived_building_is_a_point_with_the_worlds_drop_point_and_its_parish_postcode(index) -> None:
    """292 buildings, none with a street address: each is a point whose drop point is the world's derived one."""
    world = load_world("andorra")
    derived = {b.building_id: b.derived for b in world.buildings if b.derived is not None}
    assert len(index.building_points) == len(derived) == 292
    for point in index.building_points:
        assert (point.drop_point.latitude_deg, point.drop_point.longitude_deg) == (
            derived[point.building_id].latitude_deg,
            derived[point.building_id].longitude_deg,
        )
        assert point.label == derived[point.building_id].label
        assert point.postcode in {"AD100", "AD200", "AD300", "AD400", "AD500", "AD600", "AD700"}
    assert _named(index, "Casa de la Vall").postcode == "AD500"  # Andorra la Vella
    assert _named(index, "Museu Postal").postcode == "AD300"  # Ordino
    assert _named(index, "Caldea").postcode == "AD700"  # Escaldes-Engordany
    # the extract draws no boundary for Canillo; what lies outside the six drawn parishes is Canillo's
    assert _named(index, "Comú de Canillo").postcode == "AD100"
    assert "Notre Dame de Meritxell" in _named(index, "Santuario Nostra Senyora de Maritxell").names  # name:fr
    # reloading from the disk cache gives the same points
    assert AddressIndex.from_json(index.to_json()).building_points == index.building_points


@pytest.mark.parametrize(
    "text",
    [
        "Casa de la Vall, Carrer de la Grau, AD500 Andorra la Vella",  # clean
        "CASA DE LA VALL, CARRER DE LA GRAU, AD500 ANDORRA LA VELLA",  # format
        "Casa de la Vall, Calle de la Grau, Andorra la Vieja",  # Spanish street word and town
        "Casa de la Vall, Rue de la Grau, AD500 Andorre-la-Vieille",  # French
        "AD500 Andorra la Vella, Casa de la Vall",  # postcode first
        "Casa de la Val, Carrer de la Grau, AD500 Andorra la Vella",  # typo
        "Càsa de la Vàll, Andorra la Vella",  # extra diacritics
        "Casa de la Vall, C/ de la Grau s/n, 2n 1a, AD500 Andorra la Vella",  # abbreviated, s/n, floor and door
        "casa de la vall, carrer de la grau, ad700 andorra la vella",  # wrong postcode, lower case
    ],
)
def test_a_named_building_resolves_however_it_is_typed(index, resolver, text) -> None:
    resolution = resolver.resolve(text)
    point = _named(index, "Casa de la Vall")
    assert resolution.status is ResolutionStatus.RESOLVED, resolution.reason
    assert resolution.best is not None and resolution.best.address.target_id == point.building_id
    assert resolution.to_json()["latitude_deg"] == point.drop_point.latitude_deg
    destination = destination_of(resolution)
    assert destination is not None and "Casa de la Vall" in destination.street


def test_a_long_name_with_no_diacritics_and_a_french_floor(index, resolver) -> None:
    point = _named(index, "Iglesia de Sant Miquel i Sant Joan de la Mosquera")
    text = "Iglesia de Sant Miquel i Sant Joan de la Mosquera, Av. de Joan Marti, 3e etage, Encamp"
    resolution = resolver.resolve(text)
    assert resolution.best is not None and resolution.best.address.target_id == point.building_id


def test_a_street_shared_by_many_buildings_goes_to_review_with_alternatives(index, resolver) -> None:
    """'Carrer del Cortals, Encamp' fits 57 buildings: no building is chosen, whatever the confidence of each."""
    on_street = [p for p in index.building_points if p.street_id == "carrer del cortals" and p.locality == "Encamp"]
    assert len(on_street) > 10
    for text in ("Carrer del Cortals, AD200 Encamp", "Calle del Cortals, Encamp", "Carrer del Cortals, 2n 1a, Encamp"):
        resolution = resolver.resolve(text)
        assert resolution.status is ResolutionStatus.NEEDS_REVIEW, text
        assert resolution.best is None and resolution.to_json()["building_id"] is None
        assert resolution.confidence < resolver.review_below
        offered = {c.address.target_id for c in resolution.alternatives}
        assert offered and offered <= {p.building_id for p in on_street}


def test_the_village_tells_apart_buildings_on_one_street(index, resolver) -> None:
    """The one building of Carrer del Cortals in el Forn resolves; the same street in Encamp does not."""
    (point,) = [p for p in index.building_points if p.street_id == "carrer del cortals" and p.locality == "el Forn"]
    resolution = resolver.resolve("Carrer del Cortals, AD200 el Forn")
    assert resolution.best is not None and resolution.best.address.target_id == point.building_id


def test_a_house_number_the_map_does_not_have_is_never_guessed(resolver) -> None:
    """A number on a street whose buildings carry none cannot be checked: review, even on a street with one building."""
    for text in ("Carrer de la Tartera 7, Santa Coloma", "Carrer de la Tartera 7, AD500 Santa Coloma",
                 "Carrer del Cortals 12, Encamp"):
        assert resolver.resolve(text).status is not ResolutionStatus.RESOLVED, text
    assert resolver.resolve("Carrer de la Tartera, AD500 Santa Coloma").status is ResolutionStatus.RESOLVED
    assert resolver.resolve("Carrer de la Tartera 2n 1a, AD500 Santa Coloma").status is ResolutionStatus.RESOLVED


def test_a_building_the_map_does_not_have_is_not_its_streets_only_building(resolver) -> None:
    """'Hotel Plaza' on the street whose one mapped building is a church: another door, so a review."""
    resolution = resolver.resolve("Hotel Plaza, Carrer de la Tartera, AD500 Santa Coloma")
    assert resolution.status is ResolutionStatus.NEEDS_REVIEW and resolution.alternatives


def test_an_operator_can_pick_a_building_point(index) -> None:
    point = _named(index, "Museu Postal")
    picked = destination_of_target(index, point.building_id)
    assert picked is not None
    destination, record = picked
    assert (destination.latitude_deg, destination.longitude_deg) == (
        point.drop_point.latitude_deg,
        point.drop_point.longitude_deg,
    )
    assert destination.postcode == "AD300" and record["building_id"] == point.building_id
    assert destination_of_target(index, "osm-way-0") is None


def test_labelled_andorra_set_resolves_without_confident_wrong_answers(index) -> None:
    """The benchmark's Andorra rows (small, seed 7): building points of every kind, shared streets reviewed."""
    queries = QueryGenerator("andorra", index, seed=7).generate(per_kind=15)
    points = {p.building_id for p in index.building_points}
    kinds = Counter(q.kind for q in queries)
    assert kinds["shared_street"] == kinds["unknown_building"] == kinds["clean"] == kinds["apartment"] == 15
    assert sum(q.expected_target in points for q in queries if q.kind not in NEGATIVE_KINDS + AMBIGUOUS_KINDS) > 150
    rows, failures = measure("andorra", index, seed=7, per_kind=15)
    by_kind = {row["kind"]: row for row in rows}
    assert failures == [] and by_kind["overall"]["confident_wrong"] == 0.0
    assert by_kind["all_without_number"]["top1_accuracy"] >= 0.95
    assert by_kind["shared_street"]["needs_review"] == by_kind["unknown_building"]["needs_review"] == 1.0


def test_shared_street_scoring_counts_a_lucky_pick_as_confident_wrong(index, resolver) -> None:
    """For a text that fits several doors, only a review is correct."""
    queries = [q for q in QueryGenerator("andorra", index, seed=3).generate(per_kind=5) if q.kind == "shared_street"]
    for query in queries:
        resolution = resolver.resolve(query.text)
        assert correct(query, resolution) and not confident_wrong(query, resolution)


def test_the_andorra_day_types_addresses_for_buildings_without_numbers(index, resolver, tmp_path: Path) -> None:
    """andorra_day's typed orders are written from building points; some resolve, the rest wait for review."""
    scenario = load_scenario("andorra_day")
    orders = day_orders(scenario, load_world("andorra"), index)
    typed = [o for o in orders if o.address_text is not None]
    assert len(typed) == scenario.demand.typed_addresses.orders
    outcomes = Counter()
    for order in typed:
        assert order.expected_target == order.building_id
        resolution = resolver.resolve(order.address_text)
        if resolution.best is None:
            outcomes["reviewed"] += 1
        else:
            outcomes["right" if resolution.best.address.target_id == order.expected_target else "wrong"] += 1
    assert outcomes["right"] > 0 and outcomes["reviewed"] > 0 and outcomes["wrong"] == 0, outcomes
