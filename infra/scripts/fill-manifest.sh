#!/usr/bin/env bash
# Fills the add-in manifest's placeholders with one environment's values:
#   {{DOMAIN}}      the host name the task pane is served from (no scheme, no path)
#   {{CLIENT_ID}}   the app registration's client ID
#   {{APP_ID_URI}}  its Application ID URI, api://<domain>/<client id> unless given
#
# Usage: infra/scripts/fill-manifest.sh --domain HOST --client-id GUID
#          [--app-id-uri URI] [--in staticwebapp/manifest.xml] [--out FILE]
# Without --out the input file is rewritten in place (the deploy workflow does that in its
# throwaway checkout). The values come from the Bicep deployment's outputs
# (staticWebAppDomain, clientId, appIdUri).
#
# Fails, naming the problem, when the manifest is missing, has none of the placeholders,
# or still holds an unknown {{PLACEHOLDER}} afterwards.
set -euo pipefail

die() { echo "fill-manifest: $*" >&2; exit 1; }

in="staticwebapp/manifest.xml"
out=""
domain=""
client_id=""
app_id_uri=""
while [ $# -gt 0 ]; do
  case "$1" in
    --domain) domain="${2-}"; shift 2 ;;
    --client-id) client_id="${2-}"; shift 2 ;;
    --app-id-uri) app_id_uri="${2-}"; shift 2 ;;
    --in) in="${2-}"; shift 2 ;;
    --out) out="${2-}"; shift 2 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
out="${out:-$in}"

# Strict shapes: they also guarantee the values hold nothing a replacement could misread.
[[ "$domain" =~ ^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]{1,5})?$ ]] ||
  die "--domain '$domain' is not a host name (expected e.g. happy-sea-0123.azurestaticapps.net, without https://)"
[[ "$client_id" =~ ^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$ ]] ||
  die "--client-id '$client_id' is not a GUID"
app_id_uri="${app_id_uri:-api://$domain/$client_id}"
[[ "$app_id_uri" =~ ^(api|https)://[A-Za-z0-9.:/_-]+$ ]] ||
  die "--app-id-uri '$app_id_uri' is not an Application ID URI (api://<domain>/<client id>)"

[ -e "$in" ] || die "$in does not exist yet: the task pane's manifest (with {{DOMAIN}}, {{CLIENT_ID}}, {{APP_ID_URI}} placeholders) must be written first"
[ -f "$in" ] || die "$in is not a regular file"

content="$(cat "$in"; printf x)" # the x keeps trailing newlines through $(...)
content="${content%x}"
case "$content" in
  *'{{DOMAIN}}'* | *'{{CLIENT_ID}}'* | *'{{APP_ID_URI}}'*) ;;
  *) die "$in has none of the placeholders {{DOMAIN}}, {{CLIENT_ID}}, {{APP_ID_URI}}: already filled, or the wrong file?" ;;
esac

# Quoted patterns match literally; the replacements were checked above to hold no & or \.
content="${content//'{{APP_ID_URI}}'/$app_id_uri}"
content="${content//'{{CLIENT_ID}}'/$client_id}"
content="${content//'{{DOMAIN}}'/$domain}"

if left="$(grep -o '{{[A-Za-z0-9_]*}}' <<<"$content" | sort -u | paste -sd' ' -)" && [ -n "$left" ]; then
  die "$in still has unknown placeholders after filling: $left"
fi

mkdir -p "$(dirname "$out")"
printf '%s' "$content" >"$out.tmp.$$"
mv "$out.tmp.$$" "$out"
echo "fill-manifest: wrote $out (domain $domain, client ID $client_id, Application ID URI $app_id_uri)"
