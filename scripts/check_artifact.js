#!/usr/bin/env node
// Writes (default) or checks (--check) ledger/abi/ProvenanceAnchor.json from the Hardhat artifact of
// contracts/ProvenanceAnchor.sol. Run through scripts/build_contract.sh, which compiles first.
//
// The output is exactly {"abi": [...], "bytecode": "0x..."} (deployment bytecode), 2-space indent, trailing newline.
"use strict";

const fs = require("node:fs");
const path = require("node:path");

const ROOT = path.resolve(__dirname, "..");
const ARTIFACT_DIR = path.join(ROOT, ".hardhat", "artifacts", "contracts", "ProvenanceAnchor.sol");
const ARTIFACT = path.join(ARTIFACT_DIR, "ProvenanceAnchor.json");
const DBG = path.join(ARTIFACT_DIR, "ProvenanceAnchor.dbg.json");
const OUT = path.join(ROOT, "ledger", "abi", "ProvenanceAnchor.json");
const REL_OUT = path.relative(ROOT, OUT);

const EXPECTED_EVM_VERSION = "prague";

function fail(message) {
  console.error(`error: ${message}`);
  process.exit(1);
}

function render() {
  if (!fs.existsSync(ARTIFACT)) fail(`no Hardhat artifact at ${path.relative(ROOT, ARTIFACT)}: compile first`);
  const artifact = JSON.parse(fs.readFileSync(ARTIFACT, "utf8"));
  if (!Array.isArray(artifact.abi) || artifact.abi.length === 0) fail("the artifact has no ABI");
  if (typeof artifact.bytecode !== "string" || !/^0x([0-9a-f]{2})+$/.test(artifact.bytecode)) {
    fail("the artifact has no deployment bytecode");
  }
  // Guard the settings the Python side relies on (py-evm and anvil both run prague, nothing newer).
  const dbg = JSON.parse(fs.readFileSync(DBG, "utf8"));
  const buildInfo = JSON.parse(fs.readFileSync(path.resolve(ARTIFACT_DIR, dbg.buildInfo), "utf8"));
  const evmVersion = buildInfo.input.settings.evmVersion;
  if (evmVersion !== EXPECTED_EVM_VERSION) fail(`compiled for evmVersion ${evmVersion}, expected ${EXPECTED_EVM_VERSION}`);
  const pinned = require(path.join(ROOT, "node_modules", "solc", "package.json")).version;
  if (buildInfo.solcVersion !== pinned) fail(`compiled with solc ${buildInfo.solcVersion}, package.json pins ${pinned}`);
  return JSON.stringify({ abi: artifact.abi, bytecode: artifact.bytecode }, null, 2) + "\n";
}

function main() {
  const args = process.argv.slice(2);
  const check = args.includes("--check");
  const unknown = args.filter((a) => a !== "--check");
  if (unknown.length) fail(`unknown argument(s): ${unknown.join(" ")} (usage: check_artifact.js [--check])`);

  const fresh = render();
  if (!check) {
    fs.mkdirSync(path.dirname(OUT), { recursive: true });
    fs.writeFileSync(OUT, fresh);
    console.log(`wrote ${REL_OUT}`);
    return;
  }
  if (!fs.existsSync(OUT)) fail(`${REL_OUT} is missing: run 'bash scripts/build_contract.sh' and commit it`);
  const committed = fs.readFileSync(OUT, "utf8");
  if (committed === fresh) {
    console.log(`${REL_OUT} matches contracts/ProvenanceAnchor.sol`);
    return;
  }
  let what = "formatting";
  try {
    const c = JSON.parse(committed);
    const f = JSON.parse(fresh);
    const parts = [];
    if (JSON.stringify(c.abi) !== JSON.stringify(f.abi)) parts.push("ABI");
    if (c.bytecode !== f.bytecode) parts.push("bytecode");
    const extra = Object.keys(c).filter((k) => k !== "abi" && k !== "bytecode");
    if (extra.length) parts.push(`extra keys ${extra.join(", ")}`);
    if (parts.length) what = parts.join(" and ");
  } catch (err) {
    what = `invalid JSON (${err.message})`;
  }
  fail(
    `${REL_OUT} is out of date with contracts/ProvenanceAnchor.sol (differs in: ${what}).\n` +
      "       Run 'bash scripts/build_contract.sh' and commit the result.",
  );
}

main();
