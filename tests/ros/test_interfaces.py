"""finalmile_interfaces over real DDS: a VehicleState published by rclpy arrives through a subscription."""

from __future__ import annotations

import os
import time

import pytest

from sim_worlds.leases import lease_ros_domain

rclpy = pytest.importorskip("rclpy", reason="rclpy not installed (run `make setup`)")
msgs = pytest.importorskip(
    "finalmile_interfaces.msg", reason="finalmile_interfaces not built or env not set (run through `make test`)"
)

pytestmark = [pytest.mark.ros, pytest.mark.timeout(60)]


def test_vehicle_state_round_trip_over_dds() -> None:
    """A subscriber on the same ROS domain receives exactly the fields that were published."""
    domain = lease_ros_domain()
    domain_id = int(os.environ.get("FINALMILE_TEST_ROS_DOMAIN_ID", domain.number))
    context = rclpy.context.Context()
    rclpy.init(context=context, domain_id=domain_id)
    try:
        node = rclpy.create_node("interfaces_test", context=context)
        executor = rclpy.executors.SingleThreadedExecutor(context=context)
        executor.add_node(node)
        received: list = []
        node.create_subscription(msgs.VehicleState, "fleet/vehicle_state", received.append, 10)
        publisher = node.create_publisher(msgs.VehicleState, "fleet/vehicle_state", 10)

        sent = msgs.VehicleState()
        sent.vehicle_id = "drone-7"
        sent.kind = msgs.VehicleState.KIND_DRONE
        sent.latitude_deg = 60.17151
        sent.longitude_deg = 24.93805
        sent.altitude_amsl_m = 62.5
        sent.heading_deg = 271.0
        sent.battery_remaining_pct = 81.5
        sent.battery_remaining_wh = 180.25
        sent.mode = "AUTO"
        sent.armed = True
        sent.mission_id = "m-42"
        sent.stamp.sec = 1_790_000_000

        deadline = time.monotonic() + 30.0
        while not received and time.monotonic() < deadline:
            publisher.publish(sent)  # discovery takes a moment: keep publishing until it is matched
            executor.spin_once(timeout_sec=0.2)
        if not received:
            pytest.fail(f"no VehicleState received on ROS_DOMAIN_ID {domain_id} within 30 s")
        got = received[0]
        assert got.vehicle_id == "drone-7"
        assert got.kind == msgs.VehicleState.KIND_DRONE
        assert got.latitude_deg == pytest.approx(60.17151)
        assert got.longitude_deg == pytest.approx(24.93805)
        assert got.battery_remaining_wh == pytest.approx(180.25)
        assert (got.mode, got.armed, got.mission_id, got.stamp.sec) == ("AUTO", True, "m-42", 1_790_000_000)
        executor.shutdown()
        node.destroy_node()
    finally:
        rclpy.shutdown(context=context)
        domain.release()


def test_delivery_task_fields() -> None:
    """DeliveryTask carries order id, weight, pickup, drop-off and deadline as the issue names them."""
    task = msgs.DeliveryTask(order_id="o-1", parcel_weight_kg=1.2, dropoff_latitude_deg=60.17)
    task.deadline.sec = 10
    fields = set(msgs.DeliveryTask.get_fields_and_field_types())
    assert {
        "order_id", "parcel_weight_kg", "pickup_latitude_deg", "pickup_longitude_deg",
        "dropoff_latitude_deg", "dropoff_longitude_deg", "deadline",
    } <= fields
    assert (task.order_id, task.parcel_weight_kg, task.deadline.sec) == ("o-1", 1.2, 10)
