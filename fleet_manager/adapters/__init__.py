"""Vehicle adapters: one contract (`base.VehicleAdapter`), one module per back-end."""
