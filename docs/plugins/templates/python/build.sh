#!/bin/sh
# Builds {{name}}.wasm: componentize-py makes the component, then
# `passage plugin manifest set` writes manifest.json into it.
#   COMPONENTIZE_PY  the componentize-py command (default: componentize-py)
#   PASSAGE          the passage command (default: passage)
set -eu
cd "$(dirname "$0")"
COMPONENTIZE_PY=${COMPONENTIZE_PY:-componentize-py}
PASSAGE=${PASSAGE:-passage}
# componentize-py writes __pycache__ next to the modules: build from a copy.
rm -rf build && mkdir build && cp app.py build/
$COMPONENTIZE_PY -d wit -w {{world}} componentize -p build app -o build/{{name}}.wasm
$PASSAGE plugin manifest set build/{{name}}.wasm --from manifest.json --output {{name}}.wasm
echo "built {{name}}.wasm"
