"""Only the adapters know the adapter classes: no module outside `fleet_manager/adapters/` (and the runtime,
the one composition root) tests an object against a concrete adapter class. What a vehicle can do beyond the
contract is a capability protocol in `adapters/base.py` (e.g. `Carrier`), which may be checked anywhere."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ADAPTERS = ROOT / "fleet_manager" / "adapters"
ALLOWED = {ROOT / "fleet_manager" / "runtime.py"}
PACKAGES = ("fleet_manager", "sim_worlds", "mission_planner", "benchmarks", "tools")


def concrete_adapters() -> set[str]:
    """Names of the classes in fleet_manager/adapters/ that subclass VehicleAdapter."""
    names = set()
    for path in ADAPTERS.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ClassDef) and any(
                (isinstance(base, ast.Name) and base.id == "VehicleAdapter")
                or (isinstance(base, ast.Attribute) and base.attr == "VehicleAdapter")
                for base in node.bases
            ):
                names.add(node.name)
    return names


def class_checks(source: str, filename: str, classes: set[str]) -> list[str]:
    """`isinstance`/`issubclass` calls and `type(x) is/==` comparisons naming one of `classes`, as 'file:line'."""
    found = []

    def named(expr: ast.expr) -> bool:
        return any(
            (isinstance(node, ast.Name) and node.id in classes)
            or (isinstance(node, ast.Attribute) and node.attr in classes)
            for node in ast.walk(expr)
        )

    for node in ast.walk(ast.parse(source, filename)):
        class_call = (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("isinstance", "issubclass")
            and len(node.args) == 2
            and named(node.args[1])
        )
        type_compare = (
            isinstance(node, ast.Compare)
            and isinstance(node.left, ast.Call)
            and isinstance(node.left.func, ast.Name)
            and node.left.func.id == "type"
            and any(named(comparator) for comparator in node.comparators)
        )
        if class_call or type_compare:
            found.append(f"{filename}:{getattr(node, 'lineno', 0)}")
    return found


def test_the_checker_finds_class_checks_in_every_spelling() -> None:
    """The detector itself: isinstance with a class, a tuple, a module attribute; issubclass; type() is."""
    source = "\n".join([
        "isinstance(a, MavlinkAdapter)",
        "isinstance(a, (int, VanAdapter))",
        "isinstance(a, ros2_adapter.Ros2Adapter)",
        "issubclass(type(a), VanAdapter)",
        "type(a) is MavlinkAdapter",
        "isinstance(a, Carrier)",
        "isinstance(a, str)",
    ])  # fmt: skip
    assert class_checks(source, "x.py", {"MavlinkAdapter", "Ros2Adapter", "VanAdapter"}) == [
        f"x.py:{line}" for line in (1, 2, 3, 4, 5)
    ]


def test_no_module_outside_the_adapters_checks_a_concrete_adapter_class() -> None:
    """Every adapter subclass is found, and no service, simulator, benchmark or tool module names one in a check."""
    classes = concrete_adapters()
    assert {"MavlinkAdapter", "Ros2Adapter", "VanAdapter"} <= classes
    offending = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if ADAPTERS in path.parents or path in ALLOWED:
                continue
            offending += class_checks(path.read_text(), str(path.relative_to(ROOT)), classes)
    assert not offending, f"concrete adapter class checked outside fleet_manager/adapters/: {offending}"
