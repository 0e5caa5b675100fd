"""SITL instance numbers and ports: derived the way SITL derives them, never wrapped."""

from __future__ import annotations

import subprocess
import sys

import pytest

from sim_worlds.sitl import MAX_INSTANCE, SitlError, SitlFleet, check_instances, sitl_tcp_port


def test_ports_follow_the_instance_like_sitl() -> None:
    """SERIAL0/1/2 of instance I are on 5760/5762/5763 + 10·I."""
    assert sitl_tcp_port(0) == 5760
    assert (sitl_tcp_port(94), sitl_tcp_port(94, 1), sitl_tcp_port(94, 2)) == (6700, 6702, 6703)
    assert sitl_tcp_port(MAX_INSTANCE) == 5760 + 10 * 255


@pytest.mark.parametrize("instance", [-1, 256, 350])
def test_an_instance_sitl_would_wrap_is_refused(instance: int) -> None:
    """-I350 would serve on 6700 (instance 94): refused rather than guessed."""
    with pytest.raises(SitlError, match=r"0\.\.255"):
        sitl_tcp_port(instance)


def test_a_fleet_past_instance_255_is_refused_before_anything_starts() -> None:
    """250 + 10 drones would wrap: refused naming the instance range, whatever the binary."""
    check_instances(246, 10)
    with pytest.raises(SitlError, match="up to 259"):
        SitlFleet("/nonexistent/arducopter", count=10, instance_base=250)


def test_finalmile_sitl_refuses_a_wrapping_base_in_one_line() -> None:
    """The CLI says what is wrong in one line, without a traceback."""
    done = subprocess.run(
        [sys.executable, "-m", "fleet_manager.cli", "sitl", "--count", "3", "--instance-base", "254",
         "--binary", "/nonexistent/arducopter"],
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert "SITL instances must be 0..255" in done.stderr


def test_finalmile_sitl_refuses_a_malformed_parameter_in_one_line() -> None:
    """`--param` takes NAME=VALUE (e.g. MAV_OPTIONS=1); anything else is named, without a traceback."""
    done = subprocess.run(
        [sys.executable, "-m", "fleet_manager.cli", "sitl", "--remote-id", "--param", "MAV_OPTIONS",
         "--binary", "/nonexistent/arducopter"],
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert "--param 'MAV_OPTIONS' is not NAME=VALUE" in done.stderr
