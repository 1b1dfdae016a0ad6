#!/bin/sh
# As the official image's entrypoint behaves: `docker run IMAGE -e '1+1'` or `IMAGE app.js` runs node
# with those arguments; anything that is a command (`npm start`, `sh`) runs as given.
set -e
if [ "${1#-}" != "$1" ] || ! command -v -- "$1" >/dev/null 2>&1; then
  set -- node "$@"
fi
exec "$@"
