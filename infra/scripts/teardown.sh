#!/usr/bin/env bash
# Removes one environment so that the next deployment under the same name starts clean:
#
#   1. empties the resource group (a Complete-mode deployment of an empty template), keeping
#      the group and the deployer's role assignments on it; --delete-group deletes the group;
#   2. purges the soft-deleted Key Vault when purge protection allows it; otherwise the vault
#      stays soft-deleted until its purge date and the next deployment recovers it;
#   3. deletes the app registration and its service principal, then deletes both for good from
#      Entra ID's deleted items (else they linger there for 30 days).
#
# Usage: infra/scripts/teardown.sh RESOURCE_GROUP [--delete-group] [--yes]
# The names come from the group's last successful deployment (outputs keyVaultName, clientId).
# You need Contributor (Owner to delete the group) on the group, Key Vault Contributor on the
# subscription to purge, and Application Administrator in Entra ID (or be the app's owner).
set -euo pipefail

die() { echo "teardown: $*" >&2; exit 1; }

group="" delete_group=false yes=false
while [ $# -gt 0 ]; do
  case "$1" in
    --delete-group) delete_group=true ;;
    --yes) yes=true ;;
    -h | --help) sed -n '2,16p' "$0"; exit 0 ;;
    -*) die "unknown option '$1' (see --help)" ;;
    *) [ -z "$group" ] || die "one resource group only"; group="$1" ;;
  esac
  shift
done
[ -n "$group" ] || die "usage: $0 RESOURCE_GROUP [--delete-group] [--yes]"
command -v az >/dev/null || die "the Azure CLI (az) is needed"

outputs="$(az deployment group list --resource-group "$group" \
  --query "sort_by([?properties.provisioningState=='Succeeded' && properties.outputs.keyVaultName != null], &properties.timestamp)[-1].properties.outputs" \
  -o json)"
if [ -z "$outputs" ] || [ "$outputs" = null ]; then
  die "$group has no successful deployment of infra/main.bicep to read the names from"
fi
output() { jq -r --arg n "$1" '.[$n].value // empty' <<<"$outputs"; }
vault="$(output keyVaultName)"
client_id="$(output clientId)"

echo "teardown: this removes every resource in $group, Key Vault $vault and app registration $client_id."
if ! $yes; then
  read -r -p "Type the resource group's name to go on: " answer
  [ "$answer" = "$group" ] || die "not confirmed; nothing removed"
fi

# The app's object IDs, read before deletion: deleted items are addressed by them.
app_object_id="$(az ad app show --id "$client_id" --query id -o tsv 2>/dev/null || true)"
sp_object_id="$(az ad sp show --id "$client_id" --query id -o tsv 2>/dev/null || true)"

if $delete_group; then
  az group delete --name "$group" --yes
else
  empty="$(mktemp --suffix .json)"
  trap 'rm -f "$empty"' EXIT
 # shellcheck disable=SC2016 # a JSON key, not a shell expansion
  echo '{"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#", "contentVersion": "1.0.0.0", "resources": []}' >"$empty"
  az deployment group create --resource-group "$group" --name "teardown-$(date -u +%Y%m%d%H%M%S)" \
    --mode Complete --template-file "$empty" --query properties.provisioningState -o tsv
fi

if [ -n "$vault" ]; then
  protected="$(az keyvault show-deleted --name "$vault" --query properties.purgeProtectionEnabled -o tsv 2>/dev/null || true)"
  if [ "$protected" = true ]; then
    until_date="$(az keyvault show-deleted --name "$vault" --query properties.scheduledPurgeDate -o tsv)"
    echo "teardown: $vault has purge protection: it stays soft-deleted until $until_date; the next deployment recovers it"
  elif az keyvault purge --name "$vault"; then
    echo "teardown: purged Key Vault $vault"
  else
    echo "teardown: could not purge $vault; the next deployment recovers it" >&2
  fi
fi

if [ -n "$app_object_id" ]; then
  az ad app delete --id "$app_object_id"
  deleted=("$app_object_id")
  [ -z "$sp_object_id" ] || deleted+=("$sp_object_id")
  for id in "${deleted[@]}"; do
    az rest --method delete --url "https://graph.microsoft.com/v1.0/directory/deletedItems/$id" >/dev/null 2>&1 ||
      echo "teardown: $id is not in deleted items (already gone?)" >&2
  done
  echo "teardown: deleted app registration $client_id for good"
else
  echo "teardown: app registration $client_id not found (already deleted?)" >&2
fi
echo "teardown: done; the next deployment of $group creates the environment anew"
