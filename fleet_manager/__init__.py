"""FinalMile fleet manager: the service that turns orders into vehicle missions and reports back."""
