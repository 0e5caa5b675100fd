"""docker/compose.yaml holds the scale-out topology and every command in it is one the CLI takes.

There is no Docker engine on this machine: the topology itself runs as plain processes in
test_cluster_api.py and test_cluster_failover.py. Here the file is checked for what would break a
`docker compose up`: a command or option the CLI does not have, a fleet file that does not load, a
shard for a hub the fleet lacks, a vehicle on a host that is no service, a service that starts before
the schema is migrated.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from fleet_manager.cli import build_parser
from fleet_manager.fleet_file import load_fleet_file

DOCKER = Path(__file__).resolve().parents[2] / "docker"
FLEET_IN_CONTAINER = "/etc/finalmile/fleet.yaml"


@pytest.fixture(scope="module")
def services() -> dict[str, dict[str, Any]]:
    return dict(yaml.safe_load((DOCKER / "compose.yaml").read_text())["services"])


def _fleet_services(services: dict[str, dict[str, Any]]) -> dict[str, list[str]]:
    """Services running the fleet-manager image's `finalmile serve`, with their arguments."""
    return {name: list(spec["command"]) for name, spec in services.items()
            if spec.get("image", "").startswith("finalmile/fleet-manager") and spec["command"][0] == "serve"}


def test_every_finalmile_command_parses_with_the_real_cli(services: dict[str, dict[str, Any]]) -> None:
    parser = build_parser()
    commands = {name: spec["command"] for name, spec in services.items()
                if spec.get("image", "").startswith("finalmile/fleet-manager")}
    assert {"db-upgrade", "mavsim-andorra", "api-1", "api-2", "shard-helsinki", "shard-andorra",
            "shard-standby"} <= set(commands)
    for name, command in commands.items():
        parsed = parser.parse_args(command)  # SystemExit on an unknown command or option
        assert parsed.command == command[0], name


def test_two_api_replicas_and_three_shards_covering_each_hub_with_one_standby(
    services: dict[str, dict[str, Any]],
) -> None:
    parser = build_parser()
    fleet = load_fleet_file(DOCKER / "cluster.fleet.yaml")
    hubs = {hub.hub_id for hub in fleet.hubs}
    parsed = {name: parser.parse_args(command) for name, command in _fleet_services(services).items()}
    api = sorted(name for name, args in parsed.items() if args.api_only)
    shards = {name: args for name, args in parsed.items() if not args.api_only}
    assert api == ["api-1", "api-2"]
    assert len(shards) == 3
    leaders = {name: args.hubs.split(",") for name, args in shards.items() if not args.standby}
    standbys = {name: args.hubs.split(",") for name, args in shards.items() if args.standby}
    assert sorted(hub for named in leaders.values() for hub in named) == sorted(hubs)  # one leader per hub
    assert [sorted(named) for named in standbys.values()] == [sorted(hubs)]  # one standby for both
    for name in [*api, *shards]:
        environment = services[name]["environment"]
        assert environment["FINALMILE_FLEET_FILE"] == FLEET_IN_CONTAINER, name
        assert environment["FINALMILE_NATS_URL"].startswith("nats://nats:"), name
        assert environment["FINALMILE_DATABASE_URL"].startswith("postgresql+psycopg://"), name
        assert environment["FINALMILE_NODE_ID"] == name, name  # each its own row in the lease table
        assert any(volume.endswith(f":{FLEET_IN_CONTAINER}:ro") for volume in services[name]["volumes"]), name


def test_migrations_run_once_before_any_fleet_manager_and_vehicles_are_on_services(
    services: dict[str, dict[str, Any]],
) -> None:
    assert services["db-upgrade"]["command"] == ["db", "upgrade"]
    assert services["db-upgrade"]["restart"] == "no"
    for name in _fleet_services(services):
        depends = services[name]["depends_on"]
        assert depends["db-upgrade"]["condition"] == "service_completed_successfully", name
        assert depends["postgres"]["condition"] == "service_healthy", name
    fleet = load_fleet_file(DOCKER / "cluster.fleet.yaml")
    for vehicle in fleet.vehicles:
        host = vehicle.url.split(":")[1]
        assert host in services, f"{vehicle.vehicle_id}: {host} is no service"
    mavsim = build_parser().parse_args(services["mavsim-andorra"]["command"])
    andorra = [v for v in fleet.vehicles if v.hub == "andorra-duana"]
    ports = sorted(int(v.url.rsplit(":", 1)[1]) for v in andorra)
    assert ports == [mavsim.base_port + 10 * i for i in range(mavsim.count)]
    assert services["nats"]["command"][0] == "-js"
