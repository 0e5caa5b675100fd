# The fleet manager (Fleet API, dispatcher, dashboard) as one image.
#   docker build -f docker/fleet-manager.Dockerfile -t finalmile/fleet-manager .      (context: repository root)
# Stage 1 builds the dashboard from npm (package-lock.json, exact versions); stage 2 is the Python service.
FROM node:20-bookworm-slim AS dashboard
WORKDIR /dashboard
COPY fleet_manager/dashboard/package.json fleet_manager/dashboard/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY fleet_manager/dashboard/build.mjs ./
COPY fleet_manager/dashboard/src ./src
RUN npm run build

FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN useradd --create-home --uid 1000 finalmile
WORKDIR /app
COPY requirements.lock ./
RUN pip install -r requirements.lock
COPY pyproject.toml README.md ./
COPY mission_planner ./mission_planner
COPY fleet_manager ./fleet_manager
COPY sim_worlds ./sim_worlds
COPY --from=dashboard /dashboard/static ./fleet_manager/dashboard/static
RUN pip install --no-deps --no-build-isolation . \
 && mkdir -p /app/var && chown finalmile /app/var
USER finalmile
# Build the world cache once so the first request does not parse the OSM extract.
RUN python -c "from sim_worlds.world import load_world; load_world('helsinki')"
ENV FINALMILE_HOST=0.0.0.0 FINALMILE_PORT=8000
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status == 200 else 1)"
ENTRYPOINT ["finalmile"]
CMD ["serve"]
