#!/bin/sh
# Start one ArduCopter SITL vehicle. INSTANCE picks the TCP port (5760+10*INSTANCE) and the MAVLink
# system id (INSTANCE+1) so that several vehicles on one network never share an id.
set -eu
case "$INSTANCE" in
  ''|*[!0-9]*) echo "INSTANCE must be a non-negative integer, got '$INSTANCE'" >&2; exit 2 ;;
esac
mkdir -p "/home/sitl/run-$INSTANCE"
cd "/home/sitl/run-$INSTANCE"
exec /usr/local/bin/arducopter --model + --speedup "$SPEEDUP" --defaults /opt/sitl/copter.parm \
  -I"$INSTANCE" --sysid "$((INSTANCE + 1))" --home "$HOME_LOCATION" --wipe "$@"
