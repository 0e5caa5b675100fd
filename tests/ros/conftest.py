"""Shared helpers of the ROS 2 suites: a node on a fresh, leased ROS_DOMAIN_ID that reads what DDS announces."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from sim_worlds.leases import lease_ros_domain


@pytest.fixture
def dds_probe() -> Iterator[tuple[Any, Callable[[str], Any]]]:
    """(node in /robot_hash on a random domain, publisher_info(topic) waiting up to 20 s for a publisher)."""
    rclpy = pytest.importorskip("rclpy", reason="rclpy not installed (run `make setup`)")
    domain = lease_ros_domain()
    domain_id = domain.number
    context = rclpy.context.Context()
    rclpy.init(context=context, domain_id=domain_id)
    node = rclpy.create_node("type_hash_probe", namespace="/robot_hash", context=context)

    def publisher_info(topic: str) -> Any:
        deadline, infos = time.monotonic() + 20.0, []
        while not infos and time.monotonic() < deadline:
            infos = node.get_publishers_info_by_topic(topic)
            time.sleep(0.05)
        if not infos:
            pytest.fail(f"no publisher on {topic} (ROS_DOMAIN_ID {domain_id}) within 20 s")
        return infos[0]

    try:
        yield node, publisher_info
    finally:
        node.destroy_node()
        rclpy.shutdown(context=context)
        domain.release()
