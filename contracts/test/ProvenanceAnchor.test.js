// Hardhat tests for contracts/ProvenanceAnchor.sol (run with `npx hardhat test`).
const crypto = require("node:crypto");
const fs = require("node:fs");
const path = require("node:path");

const { expect } = require("chai");
const { ethers } = require("hardhat");
const { anyValue } = require("@nomicfoundation/hardhat-chai-matchers/withArgs");

// Upper bound for the whole transaction (21,000 base included) of every anchor after the first.
const ANCHOR_GAS_LIMIT = 55000n;
const UINT64_MAX = (1n << 64n) - 1n;
const UINT256_MAX = (1n << 256n) - 1n;

// <repo>/../shared/vectors/rfc9162/inclusion: beside the repository in CI and on developers' machines only.
const VECTORS_DIR = path.resolve(__dirname, "..", "..", "..", "shared", "vectors", "rfc9162", "inclusion");

// ---------------------------------------------------------------------------------------------------------------
// Small RFC 9162 §2.1 reference implementation (SHA-256), independent of the contract.

function sha256(...parts) {
  const h = crypto.createHash("sha256");
  for (const p of parts) h.update(p);
  return h.digest();
}

const leafHash = (data) => sha256(Buffer.from([0x00]), data);
const nodeHash = (left, right) => sha256(Buffer.from([0x01]), left, right);

// Largest power of two strictly smaller than n (n >= 2).
function splitPoint(n) {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

// MTH over leaf hashes (RFC 9162 §2.1.1); n >= 1 here.
function merkleRoot(hashes) {
  if (hashes.length === 1) return hashes[0];
  const k = splitPoint(hashes.length);
  return nodeHash(merkleRoot(hashes.slice(0, k)), merkleRoot(hashes.slice(k)));
}

// PATH(m, D[n]) over leaf hashes (RFC 9162 §2.1.3.1).
function inclusionPath(m, hashes) {
  if (hashes.length === 1) return [];
  const k = splitPoint(hashes.length);
  if (m < k) return [...inclusionPath(m, hashes.slice(0, k)), merkleRoot(hashes.slice(k))];
  return [...inclusionPath(m - k, hashes.slice(k)), merkleRoot(hashes.slice(0, k))];
}

// RFC 9162 §2.1.3.2 verifier in JS, used to cross-check the probes' expectations.
function referenceVerify(leaf, index, size, proof, root) {
  if (index >= size) return false;
  let fn = index;
  let sn = size - 1n;
  let r = leaf;
  for (const p of proof) {
    if (sn === 0n) return false;
    if ((fn & 1n) === 1n || fn === sn) {
      r = nodeHash(p, r);
      if ((fn & 1n) === 0n) {
        while ((fn & 1n) === 0n && fn !== 0n) {
          fn >>= 1n;
          sn >>= 1n;
        }
      }
    } else {
      r = nodeHash(r, p);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  return sn === 0n && r.equals(root);
}

const hex = (buf) => "0x" + Buffer.from(buf).toString("hex");

// ---------------------------------------------------------------------------------------------------------------
// Probe files: integers may exceed 2^53 (e.g. leafIdx 18446744073709551615), so quote them before JSON.parse and
// read them as BigInt.

function parseProbe(text) {
  const quoted = text.replace(/("(?:leafIdx|treeSize)"\s*:\s*)(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)/g, '$1"$2"');
  return JSON.parse(quoted);
}

function listJsonFiles(dir) {
  const out = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...listJsonFiles(p));
    else if (entry.isFile() && entry.name.endsWith(".json")) out.push(p);
  }
  return out.sort();
}

function decodeUint256(value, field) {
  if (typeof value !== "string" || !/^\d+$/.test(value)) throw new Error(`${field} is not a non-negative integer`);
  const v = BigInt(value);
  if (v > UINT256_MAX) throw new Error(`${field} does not fit uint256`);
  return v;
}

function decodeBytes32(value, field) {
  if (typeof value !== "string") throw new Error(`${field} is missing`);
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(value)) throw new Error(`${field} is not base64`);
  const b = Buffer.from(value, "base64");
  if (b.length !== 32) throw new Error(`${field} is ${b.length} bytes, not 32`);
  return b;
}

// Turns a probe into verifyInclusion's ABI arguments, or throws when the values cannot be encoded (then the
// off-chain encoder refuses the probe: that refusal is the rejection).
function encodeProbe(probe) {
  const proofIn = probe.proof == null ? [] : probe.proof; // null/missing proof = empty audit path
  if (!Array.isArray(proofIn)) throw new Error("proof is not a list");
  return {
    leaf: decodeBytes32(probe.leafHash, "leafHash"),
    index: decodeUint256(probe.leafIdx, "leafIdx"),
    size: decodeUint256(probe.treeSize, "treeSize"),
    proof: proofIn.map((p, i) => decodeBytes32(p, `proof[${i}]`)),
    root: decodeBytes32(probe.root, "root"),
  };
}

// ---------------------------------------------------------------------------------------------------------------

async function deploy() {
  const [admin, alice, bob] = await ethers.getSigners();
  const factory = await ethers.getContractFactory("ProvenanceAnchor");
  const anchor = await factory.deploy();
  await anchor.waitForDeployment();
  return { anchor, admin, alice, bob };
}

const rootFor = (n) => hex(sha256(Buffer.from(`root ${n}`)));

describe("ProvenanceAnchor", function () {
  describe("access control", function () {
    it("makes the deployer admin and anchorer", async function () {
      const { anchor, admin, alice } = await deploy();
      expect(await anchor.admin()).to.equal(admin.address);
      expect(await anchor.isAnchorer(admin.address)).to.equal(true);
      expect(await anchor.isAnchorer(alice.address)).to.equal(false);
    });

    it("rejects anchors from a non-anchorer with NotAnchorer(caller)", async function () {
      const { anchor, alice } = await deploy();
      await expect(anchor.connect(alice).anchor(rootFor(1), 1))
        .to.be.revertedWithCustomError(anchor, "NotAnchorer")
        .withArgs(alice.address);
      expect(await anchor.latestTreeSize()).to.equal(0n);
    });

    it("lets the admin grant and revoke the right to anchor", async function () {
      const { anchor, admin, alice } = await deploy();
      await expect(anchor.grantAnchorer(alice.address))
        .to.emit(anchor, "AnchorerGranted")
        .withArgs(alice.address, admin.address);
      expect(await anchor.isAnchorer(alice.address)).to.equal(true);
      await expect(anchor.connect(alice).anchor(rootFor(3), 3)).to.emit(anchor, "Anchored");

      await expect(anchor.revokeAnchorer(alice.address))
        .to.emit(anchor, "AnchorerRevoked")
        .withArgs(alice.address, admin.address);
      expect(await anchor.isAnchorer(alice.address)).to.equal(false);
      await expect(anchor.connect(alice).anchor(rootFor(4), 4))
        .to.be.revertedWithCustomError(anchor, "NotAnchorer")
        .withArgs(alice.address);
      expect(await anchor.latestTreeSize()).to.equal(3n);
    });

    it("only lets the admin grant, revoke or transfer admin", async function () {
      const { anchor, alice, bob } = await deploy();
      await expect(anchor.connect(alice).grantAnchorer(bob.address))
        .to.be.revertedWithCustomError(anchor, "NotAdmin")
        .withArgs(alice.address);
      // An anchorer is not an admin.
      await anchor.grantAnchorer(alice.address);
      await expect(anchor.connect(alice).grantAnchorer(bob.address))
        .to.be.revertedWithCustomError(anchor, "NotAdmin")
        .withArgs(alice.address);
      await expect(anchor.connect(alice).revokeAnchorer(alice.address))
        .to.be.revertedWithCustomError(anchor, "NotAdmin")
        .withArgs(alice.address);
      await expect(anchor.connect(bob).transferAdmin(bob.address))
        .to.be.revertedWithCustomError(anchor, "NotAdmin")
        .withArgs(bob.address);
      expect(await anchor.isAnchorer(bob.address)).to.equal(false);
    });

    it("refuses the zero address", async function () {
      const { anchor } = await deploy();
      await expect(anchor.grantAnchorer(ethers.ZeroAddress)).to.be.revertedWithCustomError(anchor, "ZeroAddress");
      await expect(anchor.transferAdmin(ethers.ZeroAddress)).to.be.revertedWithCustomError(anchor, "ZeroAddress");
    });

    it("transfers the admin role", async function () {
      const { anchor, admin, alice, bob } = await deploy();
      await expect(anchor.transferAdmin(alice.address))
        .to.emit(anchor, "AdminTransferred")
        .withArgs(admin.address, alice.address);
      expect(await anchor.admin()).to.equal(alice.address);
      await expect(anchor.grantAnchorer(bob.address))
        .to.be.revertedWithCustomError(anchor, "NotAdmin")
        .withArgs(admin.address);
      await anchor.connect(alice).grantAnchorer(bob.address);
      expect(await anchor.isAnchorer(bob.address)).to.equal(true);
      // The former admin keeps its right to anchor until revoked.
      expect(await anchor.isAnchorer(admin.address)).to.equal(true);
      await anchor.connect(alice).revokeAnchorer(admin.address);
      expect(await anchor.isAnchorer(admin.address)).to.equal(false);
    });
  });

  describe("anchoring", function () {
    it("starts empty", async function () {
      const { anchor } = await deploy();
      expect(await anchor.latestTreeSize()).to.equal(0n);
      expect(await anchor.latestRoot()).to.equal(ethers.ZeroHash);
      expect(await anchor.rootAt(0)).to.equal(ethers.ZeroHash);
      expect(await anchor.rootAt(1)).to.equal(ethers.ZeroHash);
    });

    it("emits Anchored(treeSize, root, timestamp, anchorer)", async function () {
      const { anchor, admin } = await deploy();
      const tx = await anchor.anchor(rootFor(5), 5);
      await expect(tx).to.emit(anchor, "Anchored").withArgs(5n, rootFor(5), anyValue, admin.address);
      const receipt = await tx.wait();
      const block = await ethers.provider.getBlock(receipt.blockNumber);
      const [log] = receipt.logs.map((l) => anchor.interface.parseLog(l));
      expect(log.name).to.equal("Anchored");
      expect(log.args.treeSize).to.equal(5n);
      expect(log.args.root).to.equal(rootFor(5));
      expect(log.args.timestamp).to.equal(BigInt(block.timestamp));
      expect(log.args.anchorer).to.equal(admin.address);
    });

    it("records roots by size and tracks the latest", async function () {
      const { anchor } = await deploy();
      await anchor.anchor(rootFor(1), 1);
      await anchor.anchor(rootFor(7), 7);
      await anchor.anchor(rootFor(100), 100);
      expect(await anchor.latestTreeSize()).to.equal(100n);
      expect(await anchor.latestRoot()).to.equal(rootFor(100));
      expect(await anchor.rootAt(1)).to.equal(rootFor(1));
      expect(await anchor.rootAt(7)).to.equal(rootFor(7));
      expect(await anchor.rootAt(100)).to.equal(rootFor(100));
      expect(await anchor.rootAt(2)).to.equal(ethers.ZeroHash);
      expect(await anchor.rootAt(101)).to.equal(ethers.ZeroHash);
    });

    it("rejects sizes that do not strictly increase with TreeSizeNotIncreasing(latest, given)", async function () {
      const { anchor } = await deploy();
      await expect(anchor.anchor(rootFor(0), 0))
        .to.be.revertedWithCustomError(anchor, "TreeSizeNotIncreasing")
        .withArgs(0n, 0n);
      await anchor.anchor(rootFor(5), 5);
      await expect(anchor.anchor(rootFor(5), 5))
        .to.be.revertedWithCustomError(anchor, "TreeSizeNotIncreasing")
        .withArgs(5n, 5n);
      await expect(anchor.anchor(rootFor(4), 4))
        .to.be.revertedWithCustomError(anchor, "TreeSizeNotIncreasing")
        .withArgs(5n, 4n);
      await expect(anchor.anchor(rootFor(1), 1))
        .to.be.revertedWithCustomError(anchor, "TreeSizeNotIncreasing")
        .withArgs(5n, 1n);
      expect(await anchor.latestTreeSize()).to.equal(5n);
      expect(await anchor.rootAt(4)).to.equal(ethers.ZeroHash);
      expect(await anchor.latestRoot()).to.equal(rootFor(5));
    });

    it("rejects a zero root with ZeroRoot()", async function () {
      const { anchor } = await deploy();
      await expect(anchor.anchor(ethers.ZeroHash, 1)).to.be.revertedWithCustomError(anchor, "ZeroRoot");
      expect(await anchor.latestTreeSize()).to.equal(0n);
    });

    it("accepts the largest uint64 size, after which nothing more can be anchored", async function () {
      const { anchor } = await deploy();
      await anchor.anchor(rootFor(1), UINT64_MAX);
      expect(await anchor.latestTreeSize()).to.equal(UINT64_MAX);
      await expect(anchor.anchor(rootFor(2), UINT64_MAX))
        .to.be.revertedWithCustomError(anchor, "TreeSizeNotIncreasing")
        .withArgs(UINT64_MAX, UINT64_MAX);
    });

    it(`costs at most ${ANCHOR_GAS_LIMIT} gas per anchor after the first, whatever the size`, async function () {
      const { anchor, alice } = await deploy();
      await anchor.grantAnchorer(alice.address);
      const sizes = [1n, 2n, 3n, 1000n, 1001n, 65536n, 1n << 40n, (1n << 40n) + 1n, 1n << 63n, UINT64_MAX - 1n];
      const figures = [];
      for (const [i, size] of sizes.entries()) {
        // Alternate between the admin and a granted anchorer: both paths must stay under the bound.
        const signer = i % 2 === 0 ? anchor : anchor.connect(alice);
        const receipt = await (await signer.anchor(rootFor(size), size)).wait();
        figures.push({ size, gasUsed: receipt.gasUsed, by: i % 2 === 0 ? "admin" : "granted" });
      }
      console.log("      anchor gas (tx total, incl. 21000 base):");
      for (const [i, f] of figures.entries()) {
        console.log(`        #${i + 1} size ${f.size} by ${f.by}: ${f.gasUsed}${i === 0 ? " (first)" : ""}`);
      }
      for (const f of figures.slice(1)) expect(f.gasUsed <= ANCHOR_GAS_LIMIT, `size ${f.size}: ${f.gasUsed}`).to.be.true;
    });
  });

  describe("verifyInclusion", function () {
    let anchor;
    before(async function () {
      ({ anchor } = await deploy());
    });

    const verify = (leaf, index, size, proof, root) =>
      anchor.verifyInclusion(hex(leaf), index, size, proof.map(hex), hex(root));

    it("accepts every RFC 9162 proof for sizes 1..20 (every index) and refuses one-byte changes", async function () {
      this.timeout(600000);
      let accepted = 0;
      let refused = 0;
      for (let n = 1; n <= 20; n++) {
        const leaves = Array.from({ length: n }, (_, i) => leafHash(Buffer.from(`leaf ${i}`)));
        const root = merkleRoot(leaves);
        for (let m = 0; m < n; m++) {
          const proof = inclusionPath(m, leaves);
          const N = BigInt(n);
          const M = BigInt(m);
          expect(referenceVerify(leaves[m], M, N, proof, root)).to.equal(true);
          expect(await verify(leaves[m], M, N, proof, root), `n=${n} m=${m}`).to.equal(true);
          accepted++;

          // Any single changed byte anywhere in the audit path. (The byte position moves with the element so
          // that every position of every element is covered across indexes, keeping the run short.)
          for (let j = 0; j < proof.length; j++) {
            for (const pos of [(m + j) % 32, 31 - ((m + j) % 32)]) {
              const bad = proof.map((p) => Buffer.from(p));
              bad[j][pos] ^= 0x01 << (pos % 8);
              expect(await verify(leaves[m], M, N, bad, root), `n=${n} m=${m} proof[${j}][${pos}]`).to.equal(false);
              refused++;
            }
          }
          const flipped = (b, pos) => {
            const c = Buffer.from(b);
            c[pos] ^= 0x80;
            return c;
          };
          const cases = [
            [flipped(leaves[m], m % 32), M, N, proof, root],
            [leaves[m], M, N, proof, flipped(root, (m * 7) % 32)],
            [leaves[m], M + 1n, N, proof, root],
            [leaves[m], M, N + 1n, proof, root],
            [leaves[m], M, N, [...proof, root], root],
            [leaves[m], M, N, [root, ...proof], root],
          ];
          if (m > 0) cases.push([leaves[m], M - 1n, N, proof, root]);
          if (n > 1) cases.push([leaves[m], M, N - 1n, proof, root]);
          if (proof.length > 0) {
            cases.push([leaves[m], M, N, proof.slice(1), root]);
            cases.push([leaves[m], M, N, proof.slice(0, -1), root]);
          }
          if (n > 1) cases.push([leaves[(m + 1) % n], M, N, proof, root]);
          for (const [i, c] of cases.entries()) {
            const want = referenceVerify(...c);
            expect(await verify(...c), `n=${n} m=${m} case ${i}`).to.equal(want);
            if (!want) refused++;
          }
        }
      }
      console.log(`      hand-built proofs: ${accepted} accepted, ${refused} tampered variants refused`);
      // The full byte-by-byte sweep on one proof: every byte of every element, for one mid-sized tree.
      const leaves = Array.from({ length: 13 }, (_, i) => leafHash(Buffer.from(`leaf ${i}`)));
      const root = merkleRoot(leaves);
      const proof = inclusionPath(6, leaves);
      for (let j = 0; j < proof.length; j++) {
        for (let pos = 0; pos < 32; pos++) {
          const bad = proof.map((p) => Buffer.from(p));
          bad[j][pos] ^= 0xff;
          expect(await verify(leaves[6], 6n, 13n, bad, root), `proof[${j}][${pos}]`).to.equal(false);
        }
      }
    });

    it("returns false, never reverts, on out-of-range or oversized input", async function () {
      const leaf = leafHash(Buffer.from("x"));
      const junk = Array.from({ length: 300 }, (_, i) => sha256(Buffer.from(`junk ${i}`)));
      expect(await verify(leaf, 0n, 0n, [], leaf)).to.equal(false);
      expect(await verify(leaf, 1n, 1n, [], leaf)).to.equal(false);
      expect(await verify(leaf, 0n, 1n, [], leaf)).to.equal(true);
      expect(await verify(leaf, 0n, 1n, [leaf], leaf)).to.equal(false);
      expect(await verify(leaf, UINT256_MAX, UINT256_MAX, [], leaf)).to.equal(false);
      expect(await verify(leaf, UINT256_MAX - 1n, UINT256_MAX, junk, leaf)).to.equal(false);
      expect(await verify(leaf, 0n, UINT256_MAX, junk.slice(0, 256), leaf)).to.equal(false);
      expect(await verify(leaf, 0n, 1n << 40n, junk.slice(0, 40), leaf)).to.equal(false);
      expect(await verify(leaf, 0n, 1n << 40n, junk, leaf)).to.equal(false);
      expect(await verify(Buffer.alloc(32), 0n, 1n, [], Buffer.alloc(32))).to.equal(true); // a leaf equal to the root
    });

    it("agrees with every probe in ../shared/vectors/rfc9162/inclusion", async function () {
      if (!fs.existsSync(VECTORS_DIR)) {
        console.log(`      SKIPPED: RFC 9162 inclusion probes not found at ${VECTORS_DIR}`);
        this.skip();
      }
      const files = listJsonFiles(VECTORS_DIR);
      expect(files.length, `no probe files under ${VECTORS_DIR}`).to.be.greaterThan(0);
      let run = 0;
      let onChain = 0;
      let rejectedByEncoding = 0;
      let accepted = 0;
      for (const file of files) {
        const name = path.relative(VECTORS_DIR, file);
        const probe = parseProbe(fs.readFileSync(file, "utf8"));
        expect(typeof probe.wantErr, `${name}: wantErr`).to.equal("boolean");
        run++;
        let args;
        try {
          args = encodeProbe(probe);
        } catch (err) {
          // Values that verifyInclusion's ABI cannot carry (a root, leaf hash or proof element that is not exactly
          // 32 bytes, a missing hash, a negative or non-integer index/size, ...) never reach the contract: the
          // off-chain encoder refusing them is the rejection. Such a probe must be one that expects an error.
          rejectedByEncoding++;
          expect(probe.wantErr, `${name}: refused by the encoder (${err.message}) but the probe expects success`).to
            .be.true;
          continue;
        }
        const got = await anchor.verifyInclusion(hex(args.leaf), args.index, args.size, args.proof.map(hex), hex(args.root));
        onChain++;
        expect(got, `${name} (${probe.desc})`).to.equal(!probe.wantErr);
        expect(referenceVerify(args.leaf, args.index, args.size, args.proof, args.root), `${name}: JS reference`).to.equal(
          !probe.wantErr,
        );
        if (got) accepted++;
      }
      console.log(
        `      RFC 9162 inclusion probes: ${run} run, ${onChain} checked on chain (${accepted} accepted), ` +
          `${rejectedByEncoding} rejected by encoding`,
      );
    });
  });
});
