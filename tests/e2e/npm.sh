# Sourced by tests/e2e/run.sh and scripts/test.sh: `npm_setup` installs the npm clients the tests
# use, pinned by tests/e2e/package-lock.json, into <repo>/.cache/npm (npm's own cache makes a
# reinstall fast): the MCP Inspector, Claude Code, playwright-core for the browser test, and
# TypeScript, whose tsc the check tests of tests/checks.rs run as a project's own checker.
# Exports LEX_NPM_BIN (their .bin folder) and LEX_TSC.

npm_setup() {
    local repo npm_dir want
    repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
    npm_dir="$repo/.cache/npm"
    export LEX_NPM_BIN="$npm_dir/node_modules/.bin"
    export LEX_TSC="$LEX_NPM_BIN/tsc"
    want=$(cat "$repo/tests/e2e/package.json" "$repo/tests/e2e/package-lock.json" | cksum | cut -d' ' -f1)
    if [ "$(cat "$npm_dir/.lex-stamp" 2>/dev/null)" != "$want" ] \
        || [ ! -x "$LEX_NPM_BIN/claude" ] || [ ! -x "$LEX_NPM_BIN/mcp-inspector" ] \
        || [ ! -d "$npm_dir/node_modules/playwright-core" ] || [ ! -x "$LEX_TSC" ]; then
        command -v npm >/dev/null || { echo "npm is needed for the MCP Inspector, Claude Code, playwright-core and TypeScript" >&2; return 1; }
        printf '\033[1;34m==>\033[0m %s\n' "installing the MCP Inspector CLI, Claude Code's CLI, playwright-core and TypeScript into $npm_dir" >&2
        mkdir -p "$npm_dir"
        cp "$repo/tests/e2e/package.json" "$repo/tests/e2e/package-lock.json" "$npm_dir/"
        (cd "$npm_dir" && npm ci --no-audit --no-fund --prefer-offline --loglevel=error) || return 1
        echo "$want" >"$npm_dir/.lex-stamp"
    fi
}
