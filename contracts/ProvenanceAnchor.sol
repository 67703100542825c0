// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title ProvenanceAnchor
/// @author OCOP Ledger
/// @notice Stores the root of the OCOP Ledger's append-only RFC 9162 Merkle log at strictly increasing tree sizes,
///         and verifies RFC 9162 inclusion proofs against any root.
/// @dev Storage is laid out so that every anchor after the first writes exactly one new slot (the root of the new
///      size) and updates one slot that is already non-zero (`_admin` packed with `_latestTreeSize`).
contract ProvenanceAnchor {
    /// @notice The caller may not anchor roots.
    /// @param caller The account that tried to anchor.
    error NotAnchorer(address caller);

    /// @notice The caller is not the admin.
    /// @param caller The account that tried an admin action.
    error NotAdmin(address caller);

    /// @notice A tree size was given that is not strictly greater than the latest anchored size.
    /// @param latest The latest anchored tree size.
    /// @param given The tree size that was given.
    error TreeSizeNotIncreasing(uint64 latest, uint64 given);

    /// @notice A zero root was given.
    error ZeroRoot();

    /// @notice A zero address was given where an account is needed.
    error ZeroAddress();

    // The timestamp is informational data: nobody filters logs by it, so it is not worth a topic.
    // solhint-disable gas-indexed-events
    /// @notice A root was anchored for a tree size.
    /// @param treeSize Number of leaves of the tree whose root is anchored.
    /// @param root RFC 9162 root hash of the tree at `treeSize`.
    /// @param timestamp Timestamp of the block that anchored it.
    /// @param anchorer The account that anchored it.
    event Anchored(uint64 indexed treeSize, bytes32 root, uint64 timestamp, address indexed anchorer);
    // solhint-enable gas-indexed-events

    /// @notice An account was given the right to anchor.
    /// @param account The account.
    /// @param admin The admin that granted it.
    event AnchorerGranted(address indexed account, address indexed admin);

    /// @notice An account lost the right to anchor.
    /// @param account The account.
    /// @param admin The admin that revoked it.
    event AnchorerRevoked(address indexed account, address indexed admin);

    /// @notice The admin role moved to another account.
    /// @param previousAdmin The former admin.
    /// @param newAdmin The new admin.
    event AdminTransferred(address indexed previousAdmin, address indexed newAdmin);

    /// @dev Slot 0: admin (20 bytes, never zero) packed with the latest anchored tree size (8 bytes), so that updating
    ///      the size is a non-zero to non-zero write.
    address private _admin;
    uint64 private _latestTreeSize;

    /// @dev Accounts that may anchor.
    mapping(address account => bool allowed) private _anchorers;

    /// @dev Anchored root for each anchored tree size (zero when none).
    mapping(uint64 treeSize => bytes32 root) private _roots;

    /// @notice Deploys the contract; the deployer becomes the admin and an anchorer.
    constructor() {
        _admin = msg.sender;
        _anchorers[msg.sender] = true;
        emit AdminTransferred(address(0), msg.sender);
        emit AnchorerGranted(msg.sender, msg.sender);
    }

    modifier onlyAdmin() {
        if (msg.sender != _admin) revert NotAdmin(msg.sender);
        _;
    }

    /// @notice Anchors `root` as the root of the log at `treeSize` leaves.
    /// @param root RFC 9162 root hash; must not be zero.
    /// @param treeSize Number of leaves; must be strictly greater than `latestTreeSize()`.
    function anchor(bytes32 root, uint64 treeSize) external {
        if (!_anchorers[msg.sender]) revert NotAnchorer(msg.sender);
        if (root == bytes32(0)) revert ZeroRoot();
        uint64 latest = _latestTreeSize;
        if (!(treeSize > latest)) revert TreeSizeNotIncreasing(latest, treeSize);
        _latestTreeSize = treeSize;
        _roots[treeSize] = root;
        // The timestamp is only recorded for information; nothing here depends on it.
        emit Anchored(treeSize, root, uint64(block.timestamp), msg.sender);
    }

    /// @notice Gives `account` the right to anchor. Admin only.
    /// @param account The account.
    function grantAnchorer(address account) external onlyAdmin {
        if (account == address(0)) revert ZeroAddress();
        _anchorers[account] = true;
        emit AnchorerGranted(account, msg.sender);
    }

    /// @notice Takes the right to anchor from `account`. Admin only.
    /// @param account The account.
    function revokeAnchorer(address account) external onlyAdmin {
        _anchorers[account] = false;
        emit AnchorerRevoked(account, msg.sender);
    }

    /// @notice Moves the admin role to `newAdmin`. Admin only. Does not change anyone's right to anchor.
    /// @param newAdmin The new admin; must not be zero.
    function transferAdmin(address newAdmin) external onlyAdmin {
        if (newAdmin == address(0)) revert ZeroAddress();
        emit AdminTransferred(_admin, newAdmin);
        _admin = newAdmin;
    }

    /// @notice The current admin.
    /// @return The admin's address.
    function admin() external view returns (address) {
        return _admin;
    }

    /// @notice Whether `account` may anchor.
    /// @param account The account.
    /// @return True when it may.
    function isAnchorer(address account) external view returns (bool) {
        return _anchorers[account];
    }

    /// @notice The root anchored for `treeSize`.
    /// @param treeSize Number of leaves.
    /// @return The root, or zero when that size was never anchored.
    function rootAt(uint64 treeSize) external view returns (bytes32) {
        return _roots[treeSize];
    }

    /// @notice The largest anchored tree size.
    /// @return The size, or zero before the first anchor.
    function latestTreeSize() external view returns (uint64) {
        return _latestTreeSize;
    }

    /// @notice The root anchored for the largest anchored tree size.
    /// @return The root, or zero before the first anchor.
    function latestRoot() external view returns (bytes32) {
        return _roots[_latestTreeSize];
    }

    /// @notice Verifies an RFC 9162 section 2.1.3.2 inclusion proof (SHA-256, node = SHA-256(0x01 || left || right)).
    /// @dev Never reverts on a bad proof: returns false for an index outside the tree, a proof that is too short or
    ///      too long, or any hash mismatch.
    /// @param leafHash The leaf hash, SHA-256(0x00 || leaf data).
    /// @param index The leaf's index in the tree.
    /// @param treeSize The number of leaves of the tree.
    /// @param proof The audit path, from the leaf up.
    /// @param root The expected root of the tree at `treeSize`.
    /// @return True only when the proof shows `leafHash` at `index` in the tree of `treeSize` leaves with `root`.
    function verifyInclusion(
        bytes32 leafHash,
        uint256 index,
        uint256 treeSize,
        bytes32[] calldata proof,
        bytes32 root
    ) external pure returns (bool) {
        if (!(index < treeSize)) return false;
        uint256 fn = index;
        uint256 sn = treeSize - 1;
        bytes32 r = leafHash;
        uint256 n = proof.length;
        for (uint256 i = 0; i < n; ++i) {
            if (sn == 0) return false;
            if (fn & 1 == 1 || fn == sn) {
                r = sha256(abi.encodePacked(bytes1(0x01), proof[i], r));
                if (fn & 1 == 0) {
                    while (fn & 1 == 0 && fn != 0) {
                        fn >>= 1;
                        sn >>= 1;
                    }
                }
            } else {
                r = sha256(abi.encodePacked(bytes1(0x01), r, proof[i]));
            }
            fn >>= 1;
            sn >>= 1;
        }
        return sn == 0 && r == root;
    }
}
