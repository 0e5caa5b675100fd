# ArduCopter SITL built from source, one vehicle per container.
#   docker build -f docker/sitl.Dockerfile -t finalmile/arducopter-sitl docker/
# The default ref is the commit the project's reference binary was built from (ArduCopter 4.7.0-dev);
# pass --build-arg ARDUPILOT_REF=Copter-4.6.2 (a tag) for a release instead.
FROM debian:bookworm-slim AS build
ARG ARDUPILOT_REPO=https://github.com/ArduPilot/ardupilot.git
ARG ARDUPILOT_REF=90700977c553d2dfd95a305acf1c3e098e4d9477
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      ca-certificates git build-essential g++ python3 python3-venv python3-dev pkg-config \
 && rm -rf /var/lib/apt/lists/*
RUN python3 -m venv /opt/waf-venv \
 && /opt/waf-venv/bin/pip install --no-cache-dir empy==3.3.4 pexpect==4.9.0 future==1.0.0 lxml==5.3.0 pymavlink==2.4.43
ENV PATH=/opt/waf-venv/bin:$PATH
WORKDIR /src
RUN git init ardupilot && cd ardupilot \
 && git remote add origin "$ARDUPILOT_REPO" \
 && git fetch --depth 1 origin "$ARDUPILOT_REF" \
 && git checkout FETCH_HEAD \
 && git submodule update --init --depth 1 modules/waf modules/mavlink modules/DroneCAN/DSDL \
      modules/DroneCAN/dronecan_dsdlc modules/DroneCAN/libcanard modules/DroneCAN/pydronecan \
      modules/littlefs modules/lwip
WORKDIR /src/ardupilot
RUN ./waf configure --board sitl --no-submodule-update \
 && ./waf copter -j"$(nproc)" \
 && strip build/sitl/bin/arducopter

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends libstdc++6 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid 1000 sitl
COPY --from=build /src/ardupilot/build/sitl/bin/arducopter /usr/local/bin/arducopter
COPY --from=build /src/ardupilot/Tools/autotest/default_params/copter.parm /opt/sitl/copter.parm
COPY sitl-entrypoint.sh /usr/local/bin/sitl-entrypoint.sh
USER sitl
WORKDIR /home/sitl
# INSTANCE i listens for MAVLink on TCP 5760+10*i (SERIAL0), as the fleet manager's adapter expects.
ENV INSTANCE=0 \
    HOME_LOCATION=60.1715,24.9381,0,0 \
    SPEEDUP=1
EXPOSE 5760 5770 5780 5790 5800 5810 5820 5830
ENTRYPOINT ["/usr/local/bin/sitl-entrypoint.sh"]
