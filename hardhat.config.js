// Hardhat 2 configuration for the ProvenanceAnchor contract.
//
// The compiler is the npm `solc` package (solcjs), pinned exactly in package.json. Hardhat's default is to download
// a compiler; no machine of this project reaches the internet, so the subtask that finds the compiler is overridden
// to return the solcjs build from node_modules and nothing is ever downloaded.
require("@nomicfoundation/hardhat-ethers");
require("@nomicfoundation/hardhat-chai-matchers");

const { subtask } = require("hardhat/config");
const { TASK_COMPILE_SOLIDITY_GET_SOLC_BUILD } = require("hardhat/builtin-tasks/task-names");

const solc = require("solc");
const SOLC_VERSION = require("solc/package.json").version; // e.g. "0.8.30"
const SOLC_LONG_VERSION = solc.version().replace(/\.Emscripten\.clang$/, ""); // e.g. "0.8.30+commit.73712a01"

subtask(TASK_COMPILE_SOLIDITY_GET_SOLC_BUILD, async ({ solcVersion }) => {
  if (solcVersion !== SOLC_VERSION) {
    throw new Error(
      `hardhat.config.js: asked for solc ${solcVersion} but only the npm solc package ${SOLC_VERSION} is available ` +
        "(no compiler downloads here); set solidity.version to match package.json",
    );
  }
  return {
    compilerPath: require.resolve("solc/soljson.js"),
    isSolcJs: true,
    version: SOLC_VERSION,
    longVersion: SOLC_LONG_VERSION,
  };
});

/** @type import('hardhat/config').HardhatUserConfig */
module.exports = {
  solidity: {
    version: "0.8.30",
    settings: {
      evmVersion: "prague",
      optimizer: { enabled: true, runs: 200 },
      // No metadata hash in the bytecode: the committed ledger/abi/ProvenanceAnchor.json then only changes when the
      // code does (not on a comment edit), and is identical on every machine.
      metadata: { bytecodeHash: "none" },
    },
  },
  networks: {
    hardhat: { hardfork: "prague" },
  },
  paths: {
    sources: "./contracts",
    tests: "./contracts/test",
    cache: "./.hardhat/cache",
    artifacts: "./.hardhat/artifacts",
  },
  mocha: { timeout: 120000 },
};
