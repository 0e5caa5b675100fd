"""FinalMile worlds, scenarios and the simulators that live in them."""
