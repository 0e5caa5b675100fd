"""Our nav2_msgs stand-in is Nav2 Kilted's NavigateToPose on the wire: same RIHS01 type hashes, same constants.

The reference hash is computed here from Nav2's own .action text (tests/data/nav2, with its source)
by rosidl's own tooling (rosidl_adapter → .idl, rosidl_generator_type_description → hash), against
the installed geometry_msgs / builtin_interfaces / action_msgs / service_msgs descriptions. It is then
compared with (1) the hash colcon generated for our built package and (2) the hash rclpy announces
on DDS for the action's feedback topic.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

rclpy = pytest.importorskip("rclpy", reason="rclpy not installed (run `make setup`)")
nav2_action = pytest.importorskip(
    "nav2_msgs.action", reason="nav2_msgs not built or env not set (run `make ros`, source tools/env.sh)"
)

from ament_index_python.packages import get_package_share_directory  # noqa: E402
from rosidl_adapter.action import convert_action_to_idl  # noqa: E402
from rosidl_generator_type_description import generate_type_hash  # noqa: E402

pytestmark = [pytest.mark.ros, pytest.mark.timeout(60)]

DATA = Path(__file__).resolve().parents[1] / "data" / "nav2"
OURS = Path(__file__).resolve().parents[2] / "ros_ws" / "src" / "nav2_msgs" / "action" / "NavigateToPose.action"
ACTION = "nav2_msgs/action/NavigateToPose"
# Computed from Nav2 Kilted's NavigateToPose.action with rosidl 4.9.5 (Kilted); a change means the wire changed.
NAV2_KILTED_HASH = "RIHS01_a56dba8a3234a1215e610180dc703ae25bbf406dded8b54887891c9732857eab"
_DEPENDENCIES = (
    "builtin_interfaces",
    "geometry_msgs",
    "std_msgs",
    "action_msgs",
    "unique_identifier_msgs",
    "service_msgs",
)


def _reference_hashes(tmp_path: Path) -> dict[str, str]:
    """Type name → RIHS01 hash of every type in Nav2's NavigateToPose, from Nav2's own text."""
    package = tmp_path / "nav2_msgs"
    (package / "action").mkdir(parents=True)
    shutil.copy(DATA / "NavigateToPose.action", package / "action" / "NavigateToPose.action")
    idl_dir = tmp_path / "idl"
    convert_action_to_idl(package, "nav2_msgs", Path("action/NavigateToPose.action"), idl_dir / "action")
    out = tmp_path / "type_description"
    arguments = {
        "package_name": "nav2_msgs",
        "output_dir": str(out),
        "idl_tuples": [f"{idl_dir}:action/NavigateToPose.idl"],
        "include_paths": [f"{name}:{get_package_share_directory(name)}" for name in _DEPENDENCIES],
    }
    arguments_file = tmp_path / "arguments.json"
    arguments_file.write_text(json.dumps(arguments))
    generate_type_hash(str(arguments_file))
    generated = json.loads((out / "action" / "NavigateToPose.json").read_text())
    return {entry["type_name"]: entry["hash_string"] for entry in generated["type_hashes"]}


def _constants(text: str) -> list[tuple[str, str, str]]:
    return re.findall(r"^\s*(\w+)\s+([A-Z][A-Z0-9_]*)\s*=\s*(\S+)", text, flags=re.MULTILINE)


def _fields(text: str) -> list[str]:
    lines = [line.split("#", 1)[0].strip() for line in text.splitlines()]
    return [line for line in lines if line and "=" not in line]


def test_our_action_text_matches_nav2_field_for_field_and_constant_for_constant() -> None:
    """Same fields in the same order, same constants with the same values, as Nav2's file."""
    nav2, ours = (DATA / "NavigateToPose.action").read_text(), OURS.read_text()
    assert _fields(ours) == _fields(nav2)
    assert _constants(ours) == _constants(nav2)
    assert [c for c in _constants(nav2) if c[1] == "TIMEOUT"] == [("uint16", "TIMEOUT", "9003")]
    result = nav2_action.NavigateToPose.Result
    assert (result.NONE, result.UNKNOWN, result.FAILED_TO_LOAD_BEHAVIOR_TREE, result.TF_ERROR, result.TIMEOUT) == (
        0, 9000, 9001, 9002, 9003,
    )  # fmt: skip


def test_built_type_hash_equals_nav2s(tmp_path: Path) -> None:
    """The hash colcon generated for our package equals the one computed from Nav2's text (printed)."""
    reference = _reference_hashes(tmp_path)
    built_json = Path(get_package_share_directory("nav2_msgs")) / "action" / "NavigateToPose.json"
    built = {e["type_name"]: e["hash_string"] for e in json.loads(built_json.read_text())["type_hashes"]}
    print(f"\n{ACTION} type hash (Nav2 Kilted text): {reference[ACTION]}")
    print(f"{ACTION} type hash (our build):        {built[ACTION]}")
    assert built[ACTION] == reference[ACTION] == NAV2_KILTED_HASH
    for name in (f"{ACTION}_Goal", f"{ACTION}_Result", f"{ACTION}_Feedback", f"{ACTION}_FeedbackMessage"):
        assert built[name] == reference[name], name


def test_hash_announced_on_dds_equals_nav2s(tmp_path: Path, dds_probe: tuple[Any, Callable[[str], Any]]) -> None:
    """rclpy announces, for our action's feedback topic, the hash Nav2's own definition gives."""
    reference = _reference_hashes(tmp_path)
    from rclpy.action import ActionServer

    node, publisher_info = dds_probe
    server = ActionServer(node, nav2_action.NavigateToPose, "navigate_to_pose", lambda handle: None)
    topic = "/robot_hash/navigate_to_pose/_action/feedback"
    info = publisher_info(topic)
    announced = str(info.topic_type_hash)
    print(f"\nannounced on DDS for {topic}: {announced}")
    assert info.topic_type == f"{ACTION}_FeedbackMessage"
    assert announced == reference[f"{ACTION}_FeedbackMessage"]
    server.destroy()


@pytest.mark.skipif(not os.environ.get("AMENT_PREFIX_PATH"), reason="ament environment not set")
def test_stand_in_provides_only_navigate_to_pose() -> None:
    """The stand-in ships NavigateToPose and nothing else of nav2_msgs."""
    share = Path(get_package_share_directory("nav2_msgs"))
    interfaces = sorted(p.name for p in share.glob("*/*.idl"))
    if (share / "action" / "NavigateToPose.action").read_text() != OURS.read_text():
        pytest.skip("a real nav2_msgs is installed; the stand-in is not built")
    assert interfaces == ["NavigateToPose.idl"]
