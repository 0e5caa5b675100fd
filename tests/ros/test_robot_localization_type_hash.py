"""Our robot_localization / geographic_msgs stand-ins are upstream's FromLL, ToLL and GeoPoint on the wire.

The reference hashes are computed here from the upstream .srv/.msg texts (tests/data/robot_localization,
with their source) by rosidl's own tooling, against the installed geometry_msgs description, and
compared with what colcon generated for our packages and with what rclpy announces on DDS for a
FromLL service. So a real robot's navsat_transform and our sim robot answer the same `fromLL` calls.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

rclpy = pytest.importorskip("rclpy", reason="rclpy not installed (run `make setup`)")
rl_srv = pytest.importorskip(
    "robot_localization.srv", reason="robot_localization stand-in not built or env not set (run `make ros`)"
)

from ament_index_python.packages import get_package_share_directory  # noqa: E402
from rosidl_adapter.msg import convert_msg_to_idl  # noqa: E402
from rosidl_adapter.srv import convert_srv_to_idl  # noqa: E402
from rosidl_generator_type_description import generate_type_hash  # noqa: E402

pytestmark = [pytest.mark.ros, pytest.mark.timeout(60)]

DATA = Path(__file__).resolve().parents[1] / "data" / "robot_localization"
SOURCES = Path(__file__).resolve().parents[2] / "ros_ws" / "src"
# Computed from the upstream texts with rosidl 4.9.5 (Kilted); a change means the wire changed.
FROMLL_HASH = "RIHS01_db39e47b5738d4c5ba6c5907d334ada35899262fba4bd415aa06eefb4733840e"


def _hashes(tmp_path: Path, package: str, kind: str, name: str, include: dict[str, str]) -> dict[str, str]:
    source = tmp_path / "src" / package
    (source / kind).mkdir(parents=True, exist_ok=True)
    shutil.copy(DATA / f"{name}.{kind}", source / kind / f"{name}.{kind}")
    idl_dir = tmp_path / "idl" / package
    convert = convert_msg_to_idl if kind == "msg" else convert_srv_to_idl
    convert(source, package, Path(f"{kind}/{name}.{kind}"), idl_dir / kind)
    out = tmp_path / "type_description" / package
    arguments = {
        "package_name": package,
        "output_dir": str(out),
        "idl_tuples": [f"{idl_dir}:{kind}/{name}.idl"],
        "include_paths": [f"{dep}:{path}" for dep, path in include.items()],
    }
    arguments_file = tmp_path / f"{package}_{name}.json"
    arguments_file.write_text(json.dumps(arguments))
    generate_type_hash(str(arguments_file))
    generated = json.loads((out / kind / f"{name}.json").read_text())
    return {entry["type_name"]: entry["hash_string"] for entry in generated["type_hashes"]}


def _reference(tmp_path: Path) -> dict[str, str]:
    """Type name -> RIHS01 hash of upstream's GeoPoint, FromLL and ToLL (and their request/response types)."""
    hashes = _hashes(tmp_path, "geographic_msgs", "msg", "GeoPoint", {})
    include = {
        "geographic_msgs": str(tmp_path / "type_description" / "geographic_msgs"),
        "geometry_msgs": get_package_share_directory("geometry_msgs"),
        "builtin_interfaces": get_package_share_directory("builtin_interfaces"),
        "service_msgs": get_package_share_directory("service_msgs"),
    }
    for name in ("FromLL", "ToLL"):
        hashes |= _hashes(tmp_path, "robot_localization", "srv", name, include)
    return hashes


def _built(package: str, kind: str, name: str) -> dict[str, str]:
    path = Path(get_package_share_directory(package)) / kind / f"{name}.json"
    return {e["type_name"]: e["hash_string"] for e in json.loads(path.read_text())["type_hashes"]}


def test_stand_in_texts_are_upstreams_field_for_field() -> None:
    """The .srv/.msg files we build are upstream's (tests/data) byte for byte."""
    for name in ("FromLL.srv", "ToLL.srv"):
        assert (SOURCES / "robot_localization" / "srv" / name).read_text() == (DATA / name).read_text()
    assert (SOURCES / "geographic_msgs" / "msg" / "GeoPoint.msg").read_text() == (DATA / "GeoPoint.msg").read_text()


def test_built_type_hashes_equal_upstreams(tmp_path: Path) -> None:
    """The hashes colcon generated for our packages equal those computed from upstream's texts (printed)."""
    reference = _reference(tmp_path)
    built = _built("geographic_msgs", "msg", "GeoPoint") | _built("robot_localization", "srv", "FromLL")
    built |= _built("robot_localization", "srv", "ToLL")
    print(f"\nrobot_localization/srv/FromLL type hash (upstream text): {reference['robot_localization/srv/FromLL']}")
    assert reference["robot_localization/srv/FromLL"] == FROMLL_HASH
    for name in ("geographic_msgs/msg/GeoPoint", "robot_localization/srv/FromLL", "robot_localization/srv/ToLL",
                 "robot_localization/srv/FromLL_Request", "robot_localization/srv/ToLL_Response"):
        assert built[name] == reference[name], name


def test_hash_announced_on_dds_equals_upstreams(tmp_path: Path, dds_probe: tuple[Any, Callable[[str], Any]]) -> None:
    """rclpy announces, for a FromLL service's event topic, the hash upstream's definition gives."""
    from rclpy.qos import qos_profile_system_default
    from rclpy.service_introspection import ServiceIntrospectionState

    reference = _reference(tmp_path)
    node, publisher_info = dds_probe
    service = node.create_service(rl_srv.FromLL, "fromLL", lambda request, response: response)
    service.configure_introspection(node.get_clock(), qos_profile_system_default, ServiceIntrospectionState.METADATA)
    info = publisher_info("/robot_hash/fromLL/_service_event")
    assert info.topic_type == "robot_localization/srv/FromLL_Event"
    assert str(info.topic_type_hash) == reference["robot_localization/srv/FromLL_Event"]
    node.destroy_service(service)
