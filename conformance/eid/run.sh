#!/usr/bin/env bash
# Runs every plan of eid's conformance suite against a freshly started eid-server (SQLite, a
# new data directory), the way an auditor runs it against a deployment: the sandbox population
# registry proves one test resident, whose wallet file the `wallet` login driver approves with.
#
#   conformance/eid/run.sh [REPORT_DIR]
#
# Exits non-zero when any module FAILED; the reports (JSON, JUnit XML, HTML) stay in REPORT_DIR.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
# Where cargo puts what it builds: CARGO_TARGET_DIR when set (relative to the workspace root,
# where cargo runs below), else the workspace's target/.
target="${CARGO_TARGET_DIR:-target}"
case "$target" in /*) ;; *) target="$root/$target" ;; esac
out="${1:-$target/conformance/eid}"
mkdir -p "$out"
report="$(cd "$out" && pwd)"
port="${EID_PORT:-18080}"
admin_port="${EID_ADMIN_PORT:-18081}"
registry_port="${REGISTRY_PORT:-17070}"
issuer="http://localhost:$port"

(cd "$root" && cargo build -q -p eid-server -p eid-wallet -p population-registry -p eid-conformance)
bin="$target/debug"
work="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

wait_for() {
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "nothing listens on port $1:" >&2
  cat "$work"/*.log >&2 || true
  exit 2
}

# One test resident of the sandbox registry: HKID, names, date of birth, gender, capture file
# (signed under the capture root `generate` writes beside it, which eid's config names).
"$bin/population-registry" generate --count 1 --out "$work/registry" > "$work/residents.tsv"
IFS=$'\t' read -r hkid name chinese dob gender capture \
  < <(grep -m1 -E '^[A-Z]{1,2}[0-9]{6}\([0-9A]\)'$'\t' "$work/residents.tsv")
"$bin/population-registry" serve --residents "$work/registry" --listen "127.0.0.1:$registry_port" \
  --client-jwks-url "$issuer/connectors/jwks" \
  > "$work/registry.log" 2>&1 &
pids+=($!)

# The suite logs in a hundred times from one address within minutes: an auditor's staging
# deployment raises the per-address limits the same way.
cat > "$work/eid.toml" <<TOML
[limits]
authorize_per_address = "10000/1m"
login_pages_per_address = "10000/1m"
approvals_per_address = "10000/1m"
approvals_per_account = "10000/1m"
sessions_per_address = "10000/1m"
registrations_per_address = "10000/1m"

# The Dynamic plan registers a client per module.
[registration]
mode = "open"

# A Dynamic OP offers the implicit response types (OIDC Core §15.2): a deployment seeking
# that certification switches them on for the clients that register them.
[oidc]
danger_implicit_flow = true

# The sandbox registry's capture root: remote proofing believes the captures signed under it.
[proofing]
capture_roots = ["$work/registry/capture-root.pem"]
TOML
common=(--config "$work/eid.toml" --data-dir "$work/data")
# Two clients, registered before the server starts (the first call creates the database and
# the development master key).
client() {
  "$bin/eid-server" "${common[@]}" client add --dev --name "$1" --redirect-uri https://rp.example/callback "${@:2}" \
    | awk -F': ' '/^client_id/ {id=$2} /^client_secret/ {secret=$2} END {printf "[[client]]\nclient_id = \"%s\"\nclient_secret = \"%s\"\nredirect_uri = \"https://rp.example/callback\"\n\n", id, secret}'
}
# Two FAPI 2.0 clients (the fapi2-security-profile plan): a P-256 key each, private_key_jwt,
# PAR and DPoP.
fapi_client() {
  private=$("$bin/eid-conformance" client-key --public "$work/$2.jwks")
  "$bin/eid-server" "${common[@]}" client add --dev --name "$1" --redirect-uri https://rp.example/callback \
    --profile fapi2 --auth-method private_key_jwt --jwks "$work/$2.jwks" --id-token-alg ES256 \
    | awk -F': ' -v key="$private" '/^client_id/ {id=$2} END {printf "[[client]]\nclient_id = \"%s\"\nredirect_uri = \"https://rp.example/callback\"\ntoken_endpoint_auth_method = \"private_key_jwt\"\n%s\n\n", id, key}'
}
{
  # The first may ask for signatures (the eid-signing plan).
  client "Conformance suite" --allow-signing
  client "Conformance suite (second client)"
  fapi_client "Conformance suite (FAPI 2.0)" fapi1
  fapi_client "Conformance suite (FAPI 2.0, second client)" fapi2
} > "$work/clients.toml"
# The document-signing PKI (the eid-signing plan). Its modules sign for the wallet's citizen,
# which needs an account proven in person (plus): this script proves remotely (basic), so
# they are skipped here, saying so; the suite's own test against eid proves in person.
"$bin/eid-server" "${common[@]}" --dev --issuer "$issuer" pki init > /dev/null

"$bin/eid-server" "${common[@]}" --dev --listen "127.0.0.1:$port" --issuer "$issuer" \
  --admin-listen "127.0.0.1:$admin_port" --registry-url "http://127.0.0.1:$registry_port" \
  > "$work/eid.log" 2>&1 &
pids+=($!)
wait_for "$registry_port"
wait_for "$port"

wallet=("$bin/eid-wallet" --store "$work/phone.json")
"${wallet[@]}" enrol --server "$issuer" --name "$name" --chinese-name "$chinese" --hkid "$hkid" \
  --date-of-birth "$dob" --gender "$gender" --device-name "conformance suite"
"${wallet[@]}" prove --capture "$capture"

"$bin/eid-conformance" run --issuer "$issuer" --plan all --clients "$work/clients.toml" \
  --login-driver wallet --wallet "$work/phone.json" --danger-allow-http --report "$report" \
  --serve-documents "127.0.0.1:${DOCUMENTS_PORT:-18090}" \
  --expected-failures "$(dirname "$0")/expected-failures.toml" \
  --pinned-verdicts "$(dirname "$0")/pinned-verdicts.toml"
