#!/bin/sh
# Installs playwright-core for the browser tests from package-lock.json.
# Offline-tolerant: when the locked version is already installed, nothing is
# fetched. playwright-core never downloads a browser (the tests launch
# Debian's chromium); PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD is set all the same.
set -eu
cd "$(dirname "$0")"
want=$(node -e 'console.log(require("./package-lock.json").packages["node_modules/playwright-core"].version)')
have=$(node -e 'try{console.log(require("./node_modules/playwright-core/package.json").version)}catch(e){console.log("")}')
if [ "$want" = "$have" ]; then
    exit 0
fi
PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund
