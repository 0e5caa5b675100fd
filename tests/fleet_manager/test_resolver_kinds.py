"""The resolver on each way of typing an address, generated from Helsinki's real addresses (the kinds the
benchmark and the simulated days use): never a confident wrong door, and a missing house number always goes
to a person."""

from __future__ import annotations

import pytest

from fleet_manager.address_intake import build_resolver
from fleet_manager.world.address_resolver import AddressResolver, ResolutionStatus
from sim_worlds.address_typing import NEGATIVE_KINDS, POSITIVE_KINDS, LabelledQuery, QueryGenerator

PER_KIND = 25


@pytest.fixture(scope="module")
def resolver(tmp_path_factory: pytest.TempPathFactory) -> AddressResolver:
    """Helsinki's resolver with the default review threshold."""
    return build_resolver("helsinki", cache_dir=tmp_path_factory.mktemp("cache"), review_below=0.75)


@pytest.fixture(scope="module")
def queries(resolver: AddressResolver) -> QueryGenerator:
    """The generator of typed addresses, seeded."""
    return QueryGenerator("helsinki", resolver.index, seed=2024)


@pytest.fixture(scope="module")
def generated(queries: QueryGenerator) -> list[LabelledQuery]:
    """Up to PER_KIND queries of every kind."""
    return queries.generate(per_kind=PER_KIND)


@pytest.mark.parametrize("kind", POSITIVE_KINDS + NEGATIVE_KINDS)
def test_each_kind_of_typing(resolver: AddressResolver, generated: list[LabelledQuery], kind: str) -> None:
    """Per kind: no confident wrong answer; an address that exists is found (or sent to review) most times."""
    made = [q for q in generated if q.kind == kind]
    assert made, f"no {kind} queries generated"
    right = wrong = 0
    for query in made:
        resolution = resolver.resolve(query.text)
        if resolution.status is ResolutionStatus.RESOLVED and resolution.best is not None:
            if resolution.best.address.target_id == query.expected_target:
                right += 1
            else:
                wrong += 1
    assert wrong == 0, f"{kind}: {wrong} confident wrong doors of {len(made)}"
    if kind in POSITIVE_KINDS:
        assert right >= 0.8 * len(made), f"{kind}: only {right} of {len(made)} resolved"


def test_a_missing_house_number_always_goes_to_review(resolver: AddressResolver, queries: QueryGenerator) -> None:
    """'Annankatu, 00120 Helsinki': never resolved on a guess."""
    made = [text for a in resolver.index.addresses[:400] if (text := queries.missing_number(a)) is not None]
    assert len(made) > 50
    assert all(resolver.resolve(text).status is not ResolutionStatus.RESOLVED for text in made)


def test_the_generator_module_is_shared() -> None:
    """The benchmark imports the same generator the simulated days use (one copy)."""
    import benchmarks.bench_addresses as bench
    import sim_worlds.address_typing as typing_module

    assert bench.QueryGenerator is typing_module.QueryGenerator
