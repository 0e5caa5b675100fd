"""One APIRouter per resource, mounted under /v1 by `fleet_manager.api.app.create_app`."""
