"""Nav2 (Kilted) NavigateToPose result codes, ROS-free, shared by the ROS 2 adapter and the sim robot.

`NavigateToPose.Result.error_code` carries the navigator's own codes (9000 range) or, passed up by
bt_navigator through `error_code_name_prefixes`, the code of the server that failed: the planner's
ComputePathToPose (200 range) or the controller's FollowPath (100 range).
"""

from __future__ import annotations

# nav2_msgs/action/NavigateToPose.action
NONE = 0
UNKNOWN = 9000
FAILED_TO_LOAD_BEHAVIOR_TREE = 9001
TF_ERROR = 9002
TIMEOUT = 9003
# nav2_msgs/action/ComputePathToPose.action (planner server)
PLANNER_UNKNOWN = 200
INVALID_PLANNER = 201
PLANNER_TF_ERROR = 202
START_OUTSIDE_MAP = 203
GOAL_OUTSIDE_MAP = 204
START_OCCUPIED = 205
GOAL_OCCUPIED = 206
PLANNER_TIMEOUT = 207
NO_VALID_PATH = 208
# nav2_msgs/action/FollowPath.action (controller server)
CONTROLLER_UNKNOWN = 100
INVALID_CONTROLLER = 101
CONTROLLER_TF_ERROR = 102
INVALID_PATH = 103
PATIENCE_EXCEEDED = 104
FAILED_TO_MAKE_PROGRESS = 105
NO_VALID_CONTROL = 106
CONTROLLER_TIMED_OUT = 107

ERROR_NAMES: dict[int, str] = {
    NONE: "NONE",
    UNKNOWN: "UNKNOWN",
    FAILED_TO_LOAD_BEHAVIOR_TREE: "FAILED_TO_LOAD_BEHAVIOR_TREE",
    TF_ERROR: "TF_ERROR",
    TIMEOUT: "TIMEOUT",
    PLANNER_UNKNOWN: "PLANNER_UNKNOWN",
    INVALID_PLANNER: "INVALID_PLANNER",
    PLANNER_TF_ERROR: "PLANNER_TF_ERROR",
    START_OUTSIDE_MAP: "START_OUTSIDE_MAP",
    GOAL_OUTSIDE_MAP: "GOAL_OUTSIDE_MAP",
    START_OCCUPIED: "START_OCCUPIED",
    GOAL_OCCUPIED: "GOAL_OCCUPIED",
    PLANNER_TIMEOUT: "PLANNER_TIMEOUT",
    NO_VALID_PATH: "NO_VALID_PATH",
    CONTROLLER_UNKNOWN: "CONTROLLER_UNKNOWN",
    INVALID_CONTROLLER: "INVALID_CONTROLLER",
    CONTROLLER_TF_ERROR: "CONTROLLER_TF_ERROR",
    INVALID_PATH: "INVALID_PATH",
    PATIENCE_EXCEEDED: "PATIENCE_EXCEEDED",
    FAILED_TO_MAKE_PROGRESS: "FAILED_TO_MAKE_PROGRESS",
    NO_VALID_CONTROL: "NO_VALID_CONTROL",
    CONTROLLER_TIMED_OUT: "CONTROLLER_TIMED_OUT",
}


def error_name(code: int) -> str:
    """The Nav2 name of an error code ('GOAL_OUTSIDE_MAP'), or the number as text when unknown."""
    return ERROR_NAMES.get(code, str(code))
