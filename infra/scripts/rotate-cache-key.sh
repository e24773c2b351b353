#!/usr/bin/env bash
# Rotates the Graph token-cache encryption key held in Key Vault, in the two steps the handler's
# key list allows (TOKEN_CACHE_ENCRYPTION_KEY: comma-separated <id>:<base64 of 32 bytes>; the
# first key encrypts, every key decrypts):
#
#   add   prepend a freshly generated key. New cache entries are encrypted with it, and their
#         rows are keyed by it (each active session exchanges once more); entries written
#         with older keys still decrypt.
#   drop  keep only the first (newest) key. Run it once the Function App has used the new key
#         for longer than a cached Graph token lives (about 90 minutes; a day is comfortable).
#         Entries still encrypted with a dropped key become cache misses: the handler does a
#         fresh On-Behalf-Of exchange, nobody is signed out.
#
# After either step it asks App Service to re-resolve the Key Vault reference now instead of
# within 24 hours.
#
# Usage: infra/scripts/rotate-cache-key.sh add|drop RESOURCE_GROUP KEY_VAULT FUNCTION_APP
# The names are the deployment outputs keyVaultName and functionAppName. You need
# "Key Vault Secrets Officer" on the vault (data plane) and Website Contributor (or Contributor)
# on the Function App; see docs/deploy.md.
set -euo pipefail

die() { echo "rotate-cache-key: $*" >&2; exit 1; }

[ $# -eq 4 ] || die "usage: $0 add|drop RESOURCE_GROUP KEY_VAULT FUNCTION_APP"
step="$1" group="$2" vault="$3" app="$4"
secret="token-cache-encryption-key"
command -v az >/dev/null || die "the Azure CLI (az) is needed"
command -v openssl >/dev/null || die "openssl is needed to generate a key"

current="$(az keyvault secret show --vault-name "$vault" --name "$secret" --query value -o tsv)" ||
  die "cannot read $secret from $vault (do you have Key Vault Secrets Officer on it?)"
[ -n "$current" ] || die "$secret in $vault is empty"

case "$step" in
  add)
    id="k$(date -u +%Y%m%d%H%M%S)"
    case ",$current" in *",$id:"*) die "key id $id exists already; wait a second and retry" ;; esac
    next="$id:$(openssl rand -base64 32),$current"
    ;;
  drop)
    next="${current%%,*}"
    [ "$next" != "$current" ] || die "$secret holds one key only; nothing to drop"
    ;;
  *) die "unknown step '$step': use add or drop" ;;
esac

# The value goes through a file, never the command line (process lists, shell history).
tmp="$(mktemp)"
trap 'rm -f "$tmp"' EXIT
printf '%s' "$next" >"$tmp"
az keyvault secret set --vault-name "$vault" --name "$secret" --file "$tmp" --encoding utf-8 \
  --content-type 'comma-separated <id>:<base64 of 32 bytes>; the first encrypts, all decrypt' \
  --query id -o tsv >/dev/null

app_id="$(az functionapp show -g "$group" -n "$app" --query id -o tsv)"
az rest --method post \
  --url "https://management.azure.com${app_id}/config/configreferences/appsettings/refresh?api-version=2022-03-01" \
  >/dev/null || echo "rotate-cache-key: the refresh request failed; the app picks the new value up within 24 hours" >&2

echo "rotate-cache-key: $step done; $secret now holds $(tr ',' '\n' <"$tmp" | sed 's/:.*//' | paste -sd, -) (newest first)"
