"""ROS 2 package wrapper of FinalMile's sim robot; the logic is `sim_worlds.robots` (finalmile distribution)."""
