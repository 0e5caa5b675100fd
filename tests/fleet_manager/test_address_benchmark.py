"""The address generator (benchmark, simulated days): every kind made from real addresses, apart from the resolver."""

from __future__ import annotations

import ast
from pathlib import Path

from fleet_manager.world.addresses import address_index_for_world
from sim_worlds import address_typing
from sim_worlds.address_typing import KINDS, NEGATIVE_KINDS, QueryGenerator


def test_generator_does_not_use_the_resolvers_text_handling() -> None:
    """The generator imports only the index records (ground truth), never the resolver or its folding."""
    tree = ast.parse(Path(address_typing.__file__).read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    assert not any("address_resolver" in m or "address_text" in m or "address_query" in m for m in imported if m)


def test_every_kind_is_generated_from_helsinki_and_labelled(tmp_path: Path) -> None:
    """Each kind appears; positives point at a real building or address point; negatives at nothing."""
    index = address_index_for_world("helsinki", cache_dir=tmp_path)
    targets = {a.target_id for a in index.addresses}
    queries = QueryGenerator("helsinki", index, seed=7).generate(per_kind=20)
    assert {q.kind for q in queries} == set(KINDS)
    for query in queries:
        if query.kind in NEGATIVE_KINDS:
            assert query.expected_target is None
        else:
            assert query.expected_target in targets
    assert queries == QueryGenerator("helsinki", index, seed=7).generate(per_kind=20)  # same seed, same set
