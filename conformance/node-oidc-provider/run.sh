#!/usr/bin/env bash
# Runs eid's conformance suite against node-oidc-provider (npm `oidc-provider`, OpenID
# Certified), installed locally from package-lock.json: the Config, Basic and Form Post plans,
# with the `form` login driver. No module may end FAILED: the suite is not tuned to eid.
#
#   conformance/node-oidc-provider/run.sh [REPORT_DIR]
#
# Needs Node.js (18 or later) and npm; builds eid-conformance with cargo.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
# Where cargo puts what it builds: CARGO_TARGET_DIR when set (relative to the workspace root,
# where cargo runs below), else the workspace's target/.
target="${CARGO_TARGET_DIR:-target}"
case "$target" in /*) ;; *) target="$root/$target" ;; esac
report="$(mkdir -p "${1:-$target/conformance/node-oidc-provider}" && cd "${1:-$target/conformance/node-oidc-provider}" && pwd)"
port="${PORT:-4100}"
issuer="http://localhost:$port"

(cd "$here" && npm ci --no-audit --no-fund --silent)
(cd "$root" && cargo build -q -p eid-conformance)

work="$(mktemp -d)"
secret() { head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
basic_secret="$(secret)"
post_secret="$(secret)"
cat > "$work/clients.toml" <<TOML
[[client]]
client_id = "conformance-basic"
client_secret = "$basic_secret"
redirect_uri = "https://rp.example/callback"

[[client]]
client_id = "conformance-post"
client_secret = "$post_secret"
redirect_uri = "https://rp.example/callback"
token_endpoint_auth_method = "client_secret_post"
TOML
clients_json="[
 {\"client_id\":\"conformance-basic\",\"client_secret\":\"$basic_secret\",\"redirect_uris\":[\"https://rp.example/callback\"],\"grant_types\":[\"authorization_code\",\"refresh_token\"]},
 {\"client_id\":\"conformance-post\",\"client_secret\":\"$post_secret\",\"redirect_uris\":[\"https://rp.example/callback\"],\"grant_types\":[\"authorization_code\",\"refresh_token\"],\"token_endpoint_auth_method\":\"client_secret_post\"}
]"

PORT="$port" CLIENTS_JSON="$clients_json" node "$here/server.mjs" > "$work/provider.log" 2>&1 &
provider=$!
trap 'kill $provider 2>/dev/null || true; rm -rf "$work"' EXIT
up=no
for _ in $(seq 1 50); do
  if node -e "fetch('$issuer/.well-known/openid-configuration').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"; then
    up=yes
    break
  fi
  sleep 0.2
done
if [ "$up" != yes ]; then
  echo "node-oidc-provider did not start:" >&2
  cat "$work/provider.log" >&2
  exit 2
fi

status=0
"$target/debug/eid-conformance" run --issuer "$issuer" \
  --plan oidcc-config --plan oidcc-basic --plan oidcc-formpost-basic \
  --clients "$work/clients.toml" --login-driver form --username alice --password wonderland \
  --danger-allow-http --report "$report" || status=$?
if [ "$status" -ne 0 ]; then
  echo "node-oidc-provider's log:" >&2
  tail -n 50 "$work/provider.log" >&2
fi
exit "$status"
