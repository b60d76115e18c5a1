#!/usr/bin/env bash
# Seed corpora for the fuzz targets, made from the captured fixtures in tests/testdata (every
# provider's requests, streams, bodies and errors) into OUT/<target>/.
#   make_seeds.sh TESTDATA OUT
set -euo pipefail
data=$1 out=$2
rm -rf "$out"
mkdir -p "$out"/{chat_request,provider_response,sse,http_request,config,team_routes}
n=0
# Client requests: the conformance suite's and the fixtures' OpenAI-shaped request bodies.
for f in "$data"/providers/*/*request*.json "$data"/providers/openai/*.json; do
  [ -f "$f" ] || continue
  n=$((n + 1)); cp "$f" "$out/chat_request/$n.json"
  body=$(cat "$f")
  printf 'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s' \
    "${#body}" "$body" >"$out/http_request/$n.http"
done
printf 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nHEAD /v1/models HTTP/1.1\r\nHost: x\r\n\r\n' >"$out/http_request/get.http"
printf 'POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{"a":\r\n3\r\n[1]\r\n1\r\n}\r\n0\r\n\r\n' \
  >"$out/http_request/chunked.http"
printf 'GET http://h:1/v1/models?x=1 HTTP/1.1\r\nHost: h\r\n\r\n' >"$out/http_request/absolute.http"
# Upstream answers: "<provider> <s|p> <status>\n<body>" for every captured stream, body and error.
provider_name() {  # dir file
  case "$1/$(basename "$2")" in
    huggingface/router_*) echo huggingface ;;
    huggingface/tgi_generate_*) echo tgi-generate ;;
    huggingface/*) echo tgi ;;
    *) echo "$1" ;;
  esac
}
for dir in "$data"/providers/*/; do
  for f in "$dir"*; do
    p=$(provider_name "$(basename "$dir")" "$f")
    case "$f" in
      *.sse | *.ndjson | *stream*.json*) mode=s status=200 ;;
      *error_[0-9][0-9][0-9]*) mode=p status=$(basename "$f" | sed -E 's/.*error_([0-9]{3}).*/\1/') ;;
      *response*.json | *.json) mode=p status=200 ;;
      *) continue ;;
    esac
    n=$((n + 1))
    { printf '%s %s %s\n' "$p" "$mode" "$status"; cat "$f"; } >"$out/provider_response/$n"
    case "$f" in *.sse) cp "$f" "$out/sse/$n.sse" ;; esac
  done
done
# Configs: the project's own.
for f in "$data"/../../deploy/config/*.yaml; do
  [ -f "$f" ] && cp "$f" "$out/config/$(basename "$f")"
done
printf 'providers:\n  - {name: a, type: openai, base_url: "http://x/v1"}\nmodels:\n  - {name: m, deployments: [{provider: a, model: x}]}\n' \
  >"$out/config/min.yaml"
