"""What a release publishes, checked without publishing: `server.json` against the MCP Registry's
published schema (vendored in tests/fixtures/mcp-registry), the versions and names that must agree
across Cargo.toml, server.json and the Claude Code plugin, and the `cargo binstall` metadata
against the archives the release configuration (dist) builds."""

from __future__ import annotations

import copy
import json
import os
import shutil
import sys
import tomllib
from pathlib import Path

import jsonschema
import pytest

from support import REPO, full_env, run

SCHEMA = REPO / "tests" / "fixtures" / "mcp-registry" / "server.schema.2025-12-11.json"
TARGETS = {
    "x86_64-unknown-linux-gnu",
    "aarch64-unknown-linux-gnu",
    "x86_64-apple-darwin",
    "aarch64-apple-darwin",
    "x86_64-pc-windows-msvc",
}


@pytest.fixture(scope="module")
def cargo() -> dict:
    return tomllib.loads((REPO / "Cargo.toml").read_text())["package"]


@pytest.fixture(scope="module")
def server() -> dict:
    return json.loads((REPO / "server.json").read_text())


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft7Validator:
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)


def test_server_json_is_valid_against_the_registry_schema(server, validator):
    assert server["$schema"] == json.loads(SCHEMA.read_text())["$id"]
    errors = sorted(validator.iter_errors(server), key=str)
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


@pytest.mark.parametrize(
    "break_it",
    [
        lambda s: s.update(description="x" * 101),
        lambda s: s.update(name="no-slash"),
        lambda s: s["packages"][0].pop("transport"),
        lambda s: s["packages"][0].update(version="latest"),
    ],
    ids=["description-too-long", "name-without-namespace", "package-without-transport", "version-latest"],
)
def test_the_schema_check_catches_a_broken_server_json(server, validator, break_it):
    broken = copy.deepcopy(server)
    break_it(broken)
    assert list(validator.iter_errors(broken)), "the validator accepted a broken server.json"


def test_names_and_versions_agree(cargo, server):
    package = server["packages"][0]
    assert package["registryType"] == "cargo" and package["registryBaseUrl"] == "https://crates.io"
    assert package["identifier"] == cargo["name"]
    assert server["version"] == package["version"] == cargo["version"]
    assert server["repository"]["url"] == cargo["repository"]
    # The registry checks ownership of a crate by this line in its README on crates.io.
    assert f"mcp-name: {server['name']}" in (REPO / cargo["readme"]).read_text().splitlines()
    # The variables the package documents are settings the binary reads: in the settings
    # reference (docs/settings.md, where the README sends its readers).
    settings = (REPO / "docs" / "settings.md").read_text()
    for var in package["environmentVariables"]:
        assert f"`{var['name']}`" in settings, var["name"]

    plugin = json.loads((REPO / ".claude-plugin" / "plugin.json").read_text())
    listing = json.loads((REPO / ".claude-plugin" / "marketplace.json").read_text())
    assert plugin["version"] == cargo["version"]
    assert [p["version"] for p in listing["plugins"] if p["name"] == plugin["name"]] == [cargo["version"]]


def test_the_release_builds_every_platform_and_binstall_finds_its_archives(cargo):
    dist = tomllib.loads((REPO / "dist-workspace.toml").read_text())["dist"]
    assert set(dist["targets"]) == TARGETS
    binstall = cargo["metadata"]["binstall"]
    for target in TARGETS:
        windows = "windows" in target
        over = binstall.get("overrides", {}).get(target, {})
        fmt = over.get("pkg-fmt", binstall["pkg-fmt"])
        suffix = {"txz": ".tar.xz", "zip": ".zip"}[fmt]
        # dist names an archive `<name>-<target>.tar.xz` (a folder of that name inside) on Unix,
        # `<name>-<target>.zip` (flat) on Windows.
        assert suffix == (".zip" if windows else ".tar.xz"), target
        values = {
            "repo": cargo["repository"],
            "version": cargo["version"],
            "name": cargo["name"],
            "target": target,
            "archive-suffix": suffix,
            "bin": cargo["name"],
            "binary-ext": ".exe" if windows else "",
        }
        url = fill(binstall["pkg-url"], values)
        assert url == f"{cargo['repository']}/releases/download/v{cargo['version']}/{cargo['name']}-{target}{suffix}"
        bin_dir = fill(over.get("bin-dir", binstall["bin-dir"]), values)
        want = f"{cargo['name']}.exe" if windows else f"{cargo['name']}-{target}/{cargo['name']}"
        assert bin_dir == want, target


def fill(template: str, values: dict[str, str]) -> str:
    """cargo-binstall's `{ key }` placeholders."""
    out = template
    for key, value in values.items():
        out = out.replace("{ " + key + " }", value)
    assert "{" not in out, f"unknown placeholder left in {out}"
    return out


def dist_tool() -> str:
    """dist from the suite's venv (tests/e2e/requirements.txt installs it), else from PATH."""
    venv_dist = Path(sys.executable).parent / "dist"
    found = str(venv_dist) if os.access(venv_dist, os.X_OK) else shutil.which("dist")
    if not found:
        pytest.fail("dist is not installed: tests/e2e/run.sh installs it from tests/e2e/requirements.txt")
    return found


def test_dist_plans_the_archives_binstall_expects(cargo):
    """`dist plan` reads the configuration the release workflow uses and lists what a tag would
    publish, without building or uploading anything."""
    p = run([dist_tool(), "plan", "--output-format=json", "--tag", f"v{cargo['version']}"], full_env({}), cwd=REPO)
    assert p.returncode == 0, p.stdout + p.stderr
    artifacts = set(json.loads(p.stdout)["artifacts"])
    for target in TARGETS:
        suffix = ".zip" if "windows" in target else ".tar.xz"
        assert f"{cargo['name']}-{target}{suffix}" in artifacts, sorted(artifacts)
    assert f"{cargo['name']}-installer.sh" in artifacts and f"{cargo['name']}-installer.ps1" in artifacts


def test_the_release_workflow_matches_the_configuration():
    p = run([dist_tool(), "generate", "--check"], full_env({}), cwd=REPO)
    assert p.returncode == 0, p.stdout + p.stderr
