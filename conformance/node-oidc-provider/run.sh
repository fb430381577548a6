#!/usr/bin/env bash
# Runs eid's conformance suite against node-oidc-provider (npm `oidc-provider`, OpenID
# Certified), installed locally from package-lock.json, with the `form` login driver:
#
# - `basic`: the Config, Basic and Form Post plans against its OpenID Connect configuration;
# - `dynamic`: the Dynamic plan, with its registration and signed userinfo opened (DYNAMIC=1);
# - `fapi-nonce-off`, `fapi-nonce-offered`, `fapi-nonce-required`, `fapi-unregistered-redirects`:
#   the FAPI 2.0 Security Profile plan and eid-fapi2-jwt-time against its FAPI 2.0
#   configuration, in the choices a conforming provider may make (DPoP nonces off, offered,
#   required; unregistered redirect URIs in authenticated pushed requests honoured);
# - `fault-par-optional`, `fault-bearer-tokens`: the same with a deliberate fault, which must
#   fail exactly the modules aimed at it.
#
# Each set-up's known results are in expected/<set-up>.toml: the provider's real deviations
# (docs/conformance.md quotes the specification for each) and, for a fault, its modules. A run
# fails on any other FAILED module, and on a listed one that did not fail.
#
#   conformance/node-oidc-provider/run.sh [REPORT_DIR] [SET-UP ...]
#
# Needs Node.js (18 or later) and npm; builds eid-conformance with cargo. The set-ups run side
# by side, on ports from $PORT (4100) up.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
# Where cargo puts what it builds: CARGO_TARGET_DIR when set (relative to the workspace root,
# where cargo runs below), else the workspace's target/.
target="${CARGO_TARGET_DIR:-target}"
case "$target" in /*) ;; *) target="$root/$target" ;; esac
report="$(mkdir -p "${1:-$target/conformance/node-oidc-provider}" && cd "${1:-$target/conformance/node-oidc-provider}" && pwd)"
shift || true
setups=("$@")
if [ ${#setups[@]} -eq 0 ]; then
  setups=(basic dynamic fapi-nonce-off fapi-nonce-offered fapi-nonce-required fapi-unregistered-redirects
    fault-par-optional fault-bearer-tokens)
fi
base_port="${PORT:-4100}"

(cd "$here" && npm ci --no-audit --no-fund --silent)
(cd "$root" && cargo build -q -p eid-conformance)
suite="$target/debug/eid-conformance"

work="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

secret() { head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n'; }

# The environment of node-oidc-provider for a set-up.
provider_env() {
  case "$1" in
    basic) echo "" ;;
    dynamic) echo "DYNAMIC=1" ;;
    fapi-nonce-off) echo "FAPI=1 DPOP_NONCE=off" ;;
    fapi-nonce-offered) echo "FAPI=1 DPOP_NONCE=offered" ;;
    fapi-nonce-required) echo "FAPI=1 DPOP_NONCE=required" ;;
    fapi-unregistered-redirects) echo "FAPI=1 DPOP_NONCE=offered UNREGISTERED_REDIRECT_URIS=1" ;;
    fault-par-optional) echo "FAPI=1 DPOP_NONCE=offered FAULT=par-optional" ;;
    fault-bearer-tokens) echo "FAPI=1 DPOP_NONCE=offered FAULT=bearer-tokens" ;;
    *) echo "unknown set-up: $1" >&2; return 2 ;;
  esac
}

# Writes the clients of set-up $1 into $2/clients.toml (the suite's) and $2/clients.json
# (node-oidc-provider's).
write_clients() {
  local setup="$1" dir="$2"
  if [ "$setup" = basic ] || [ "$setup" = dynamic ]; then
    local basic_secret post_secret
    basic_secret="$(secret)"
    post_secret="$(secret)"
    cat > "$dir/clients.toml" <<TOML
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
    cat > "$dir/clients.json" <<JSON
[
 {"client_id":"conformance-basic","client_secret":"$basic_secret","redirect_uris":["https://rp.example/callback"],"grant_types":["authorization_code","refresh_token"]},
 {"client_id":"conformance-post","client_secret":"$post_secret","redirect_uris":["https://rp.example/callback"],"grant_types":["authorization_code","refresh_token"],"token_endpoint_auth_method":"client_secret_post"}
]
JSON
    return 0
  fi
  # Two FAPI 2.0 clients, each with a P-256 key of the suite's.
  : > "$dir/clients.toml"
  local json="[" n
  for n in one two; do
    local line
    line="$("$suite" client-key --public "$dir/$n.jwks")"
    cat >> "$dir/clients.toml" <<TOML
[[client]]
client_id = "fapi-$n"
redirect_uri = "https://rp.example/callback"
token_endpoint_auth_method = "private_key_jwt"
$line

TOML
    [ "$n" = one ] || json+=","
    json+="{\"client_id\":\"fapi-$n\",\"redirect_uris\":[\"https://rp.example/callback\"],\"token_endpoint_auth_method\":\"private_key_jwt\",\"token_endpoint_auth_signing_alg\":\"ES256\",\"jwks\":$(cat "$dir/$n.jwks")}"
  done
  echo "$json]" > "$dir/clients.json"
}

# Starts node-oidc-provider for set-up $1 on port $2 and runs its plans; the exit status is the
# suite's.
run_setup() {
  local setup="$1" port="$2"
  local issuer="http://localhost:$port" dir="$work/$setup"
  mkdir -p "$dir"
  write_clients "$setup" "$dir"
  # shellcheck disable=SC2046
  env $(provider_env "$setup") PORT="$port" CLIENTS_JSON="$(cat "$dir/clients.json")" \
    node "$here/server.mjs" > "$dir/provider.log" 2>&1 &
  local provider=$!
  local up=no
  for _ in $(seq 1 50); do
    if node -e "fetch('$issuer/.well-known/openid-configuration').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"; then
      up=yes
      break
    fi
    sleep 0.2
  done
  if [ "$up" != yes ]; then
    echo "$setup: node-oidc-provider did not start:" >&2
    cat "$dir/provider.log" >&2
    kill "$provider" 2>/dev/null || true
    return 2
  fi
  local plans=(--plan fapi2-security-profile --plan eid-fapi2-jwt-time --jobs 8)
  case "$setup" in
    basic) plans=(--plan oidcc-config --plan oidcc-basic --plan oidcc-formpost-basic) ;;
    # Without --serve-documents: it fetches a client's jwks_uri and sector_identifier_uri only
    # over https, which the suite's plain-HTTP document server is not; those modules skip.
    dynamic) plans=(--plan oidcc-dynamic) ;;
  esac
  local status=0
  "$suite" run --issuer "$issuer" "${plans[@]}" \
    --clients "$dir/clients.toml" --login-driver form --username alice --password wonderland \
    --expected-failures "$here/expected/$setup.toml" \
    --danger-allow-http --report "$report/$setup" > "$dir/suite.log" 2>&1 || status=$?
  kill "$provider" 2>/dev/null || true
  wait "$provider" 2>/dev/null || true
  {
    echo "== node-oidc-provider, $setup ($(provider_env "$setup")): exit $status"
    cat "$dir/suite.log"
    if [ "$status" -ne 0 ]; then
      echo "node-oidc-provider's log:"
      tail -n 50 "$dir/provider.log"
    fi
  } > "$dir/summary.log"
  return "$status"
}

declare -A runs=()
port="$base_port"
for setup in "${setups[@]}"; do
  provider_env "$setup" > /dev/null
  run_setup "$setup" "$port" &
  runs[$setup]=$!
  pids+=("$!")
  port=$((port + 1))
done
status=0
for setup in "${setups[@]}"; do
  code=0
  wait "${runs[$setup]}" || code=$?
  cat "$work/$setup/summary.log" 2>/dev/null || true
  [ "$code" -eq 0 ] || status=1
done
echo
for setup in "${setups[@]}"; do
  grep -h "^== " "$work/$setup/summary.log" 2>/dev/null || echo "== $setup: no summary"
done
exit "$status"
