"""Vehicle adapters: one contract (`base.VehicleAdapter`, capability protocols such as `base.Carrier`),
one facade per back-end (`mavlink_adapter`, `ros2_adapter`, `van_adapter`) composed of modules with one
protocol concern each, and one fan-out helper (`fanout.Fanout`) for their telemetry and mission events."""
