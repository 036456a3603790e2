#!/bin/sh
# Builds {{name}}.wasm: componentize-js makes the component, then
# `passage plugin manifest set` writes manifest.json into it.
#   COMPONENTIZE_JS  the componentize-js command (default: componentize-js;
#                    e.g. "node node_modules/@bytecodealliance/componentize-js/src/cli.js")
#   PASSAGE          the passage command (default: passage)
set -eu
cd "$(dirname "$0")"
COMPONENTIZE_JS=${COMPONENTIZE_JS:-componentize-js}
PASSAGE=${PASSAGE:-passage}
mkdir -p build
# -d http -d fetch-event: it makes no HTTP requests, so it does not import wasi:http.
$COMPONENTIZE_JS plugin.js --wit wit -n {{world}} -d http -d fetch-event -o build/{{name}}.wasm
$PASSAGE plugin manifest set build/{{name}}.wasm --from manifest.json --output {{name}}.wasm
echo "built {{name}}.wasm"
