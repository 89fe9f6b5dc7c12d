//! Safe (v1.4.1) for custody: the proxy address CREATE2 gives for owners, threshold and salt
//! nonce (`SafeProxyFactory.createProxyWithNonce` with a `setup` initializer), and the SafeTx
//! EIP-712 hash the owners sign (domain: chainId, verifyingContract).
//!
//! The constants come from the npm package `@safe-global/safe-contracts@1.4.1` (data/README.md).

use alloy_primitives::{address, keccak256, Address, Bytes, B256, U256};
use alloy_sol_types::{sol, Eip712Domain, SolCall, SolStruct};

use crate::error::{Error, Result};

sol! {
    /// `Safe.setup`, the proxy's initializer.
    function setup(
        address[] _owners,
        uint256 _threshold,
        address to,
        bytes data,
        address fallbackHandler,
        address paymentToken,
        uint256 payment,
        address paymentReceiver
    );

    /// `SafeProxyFactory.createProxyWithNonce`.
    function createProxyWithNonce(address _singleton, bytes initializer, uint256 saltNonce)
        returns (address proxy);

    /// `Safe.execTransaction`.
    function execTransaction(
        address to,
        uint256 value,
        bytes data,
        uint8 operation,
        uint256 safeTxGas,
        uint256 baseGas,
        uint256 gasPrice,
        address gasToken,
        address refundReceiver,
        bytes signatures
    ) returns (bool success);

    /// The EIP-712 struct owners sign (Safe.sol `SAFE_TX_TYPEHASH`).
    #[derive(Debug, PartialEq, Eq)]
    struct SafeTx {
        address to;
        uint256 value;
        bytes data;
        uint8 operation;
        uint256 safeTxGas;
        uint256 baseGas;
        uint256 gasPrice;
        address gasToken;
        address refundReceiver;
        uint256 nonce;
    }

    // Owner, threshold, module, guard and fallback-handler management (OwnerManager,
    // ModuleManager, GuardManager, FallbackManager of Safe v1.4.1).
    function addOwnerWithThreshold(address owner, uint256 _threshold);
    function removeOwner(address prevOwner, address owner, uint256 _threshold);
    function swapOwner(address prevOwner, address oldOwner, address newOwner);
    function changeThreshold(uint256 _threshold);
    function enableModule(address module);
    function disableModule(address prevModule, address module);
    function setGuard(address guard);
    function setFallbackHandler(address handler);
}

/// `SafeProxy` creation code (data/safe-proxy-1.4.1.creation.hex).
const PROXY_CREATION_CODE_HEX: &str = include_str!("../data/safe-proxy-1.4.1.creation.hex");

/// The contracts a Safe is created from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SafeDeployment {
    /// `SafeProxyFactory`.
    pub factory: Address,
    /// The singleton the proxy delegates to (`Safe` or `SafeL2`).
    pub singleton: Address,
    /// The fallback handler set in `setup` (`CompatibilityFallbackHandler`).
    pub fallback_handler: Address,
}

impl SafeDeployment {
    /// The canonical v1.4.1 deployment (same address on every chain that has it):
    /// SafeProxyFactory, Safe (L1 singleton), CompatibilityFallbackHandler.
    pub const CANONICAL_V1_4_1: SafeDeployment = SafeDeployment {
        factory: address!("4e1DCf7AD4e460CfD30791CCC4F9c8a4f820ec67"),
        singleton: address!("41675C099F32341bf84BFc5382aF534df5C7461a"),
        fallback_handler: address!("fd0732Dc9E303f09fCEf3a7388Ad10A83459Ec99"),
    };
    /// The canonical v1.4.1 `SafeL2` singleton (emits events per transaction; used on L2s).
    pub const SAFE_L2_V1_4_1: Address = address!("29fcB43b46531BcA003ddC8FCB67FFE91900C762");
}

/// The `SafeProxy` creation code.
pub fn proxy_creation_code() -> Vec<u8> {
    hex::decode(PROXY_CREATION_CODE_HEX.trim())
        .expect("data/safe-proxy-1.4.1.creation.hex is hex (checked by a test)")
}

/// Checks owners and threshold the way `OwnerManager.setupOwners` would (no zero or sentinel
/// owner, no duplicate, 1 ≤ threshold ≤ owners).
pub fn check_owners(owners: &[Address], threshold: u64) -> Result<()> {
    let bad = |r: String| Error::malformed("safe owners", r);
    if owners.is_empty() {
        return Err(bad("no owners".into()));
    }
    if threshold == 0 || threshold > owners.len() as u64 {
        return Err(bad(format!(
            "threshold {threshold} is not between 1 and {} owners",
            owners.len()
        )));
    }
    let sentinel = address!("0000000000000000000000000000000000000001");
    for (i, o) in owners.iter().enumerate() {
        if *o == Address::ZERO || *o == sentinel {
            return Err(bad(format!("owner {i} is {o}, which a safe cannot have")));
        }
        if owners[..i].contains(o) {
            return Err(bad(format!("owner {} appears twice", o.to_checksum(None))));
        }
    }
    Ok(())
}

/// The `setup` call data for owners and threshold, with the deployment's fallback handler and
/// no delegate call, payment token, payment or payment receiver.
pub fn setup_calldata(d: &SafeDeployment, owners: &[Address], threshold: u64) -> Vec<u8> {
    setupCall {
        _owners: owners.to_vec(),
        _threshold: U256::from(threshold),
        to: Address::ZERO,
        data: Bytes::new(),
        fallbackHandler: d.fallback_handler,
        paymentToken: Address::ZERO,
        payment: U256::ZERO,
        paymentReceiver: Address::ZERO,
    }
    .abi_encode()
}

/// The `createProxyWithNonce` call data that deploys the Safe (one transaction to the factory).
pub fn deploy_calldata(
    d: &SafeDeployment,
    owners: &[Address],
    threshold: u64,
    salt_nonce: U256,
) -> Vec<u8> {
    createProxyWithNonceCall {
        _singleton: d.singleton,
        initializer: setup_calldata(d, owners, threshold).into(),
        saltNonce: salt_nonce,
    }
    .abi_encode()
}

/// The address `createProxyWithNonce(singleton, setup(owners, threshold, …), salt_nonce)` deploys
/// the Safe at: CREATE2 from the factory with salt keccak256(keccak256(initializer) ‖ saltNonce)
/// and init code `proxyCreationCode ‖ uint256(singleton)`.
pub fn safe_address(
    d: &SafeDeployment,
    owners: &[Address],
    threshold: u64,
    salt_nonce: U256,
) -> Result<Address> {
    check_owners(owners, threshold)?;
    let initializer = setup_calldata(d, owners, threshold);
    let mut salt_input = keccak256(&initializer).to_vec();
    salt_input.extend_from_slice(&salt_nonce.to_be_bytes::<32>());
    let salt = keccak256(&salt_input);
    let mut init_code = proxy_creation_code();
    init_code.extend_from_slice(B256::left_padding_from(d.singleton.as_slice()).as_slice());
    Ok(d.factory.create2(salt, keccak256(&init_code)))
}

/// The EIP-712 domain of a Safe v1.3+: chainId and verifyingContract only.
pub fn domain(chain_id: u64, safe: Address) -> Eip712Domain {
    Eip712Domain {
        chain_id: Some(U256::from(chain_id)),
        verifying_contract: Some(safe),
        ..Default::default()
    }
}

/// The hash owners sign for `tx` on `safe` (Safe.getTransactionHash).
pub fn safe_tx_hash(tx: &SafeTx, chain_id: u64, safe: Address) -> B256 {
    tx.eip712_signing_hash(&domain(chain_id, safe))
}

/// The 4-byte selectors of Safe self-calls that change who controls it, with their names.
pub fn admin_selectors() -> [([u8; 4], &'static str); 8] {
    [
        (addOwnerWithThresholdCall::SELECTOR, "addOwnerWithThreshold"),
        (removeOwnerCall::SELECTOR, "removeOwner"),
        (swapOwnerCall::SELECTOR, "swapOwner"),
        (changeThresholdCall::SELECTOR, "changeThreshold"),
        (enableModuleCall::SELECTOR, "enableModule"),
        (disableModuleCall::SELECTOR, "disableModule"),
        (setGuardCall::SELECTOR, "setGuard"),
        (setFallbackHandlerCall::SELECTOR, "setFallbackHandler"),
    ]
}

/// Concatenates owners' 65-byte signatures in ascending owner order, as
/// `Safe.checkNSignatures` requires; a duplicate owner is an error.
pub fn combine_signatures(mut sigs: Vec<(Address, [u8; 65])>) -> Result<Vec<u8>> {
    sigs.sort_by_key(|(owner, _)| *owner);
    if let Some(w) = sigs.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(Error::malformed(
            "safe signatures",
            format!("owner {} signed twice", w[0].0.to_checksum(None)),
        ));
    }
    Ok(sigs.iter().flat_map(|(_, s)| s.iter().copied()).collect())
}

/// `execTransaction` call data with the owners' signatures (sorted by owner address, as the
/// Safe requires), for the online side's `custos eth safe execute`.
pub fn exec_calldata(tx: &SafeTx, signatures: Vec<u8>) -> Vec<u8> {
    execTransactionCall {
        to: tx.to,
        value: tx.value,
        data: tx.data.clone(),
        operation: tx.operation,
        safeTxGas: tx.safeTxGas,
        baseGas: tx.baseGas,
        gasPrice: tx.gasPrice,
        gasToken: tx.gasToken,
        refundReceiver: tx.refundReceiver,
        signatures: signatures.into(),
    }
    .abi_encode()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typehashes_equal_the_constants_in_safe_sol() {
        // Safe.sol v1.4.1, DOMAIN_SEPARATOR_TYPEHASH and SAFE_TX_TYPEHASH
        assert_eq!(
            keccak256("EIP712Domain(uint256 chainId,address verifyingContract)"),
            "0x47e79534a245952e8b16893a336b85a3d9ea9fa8c573f3d803afb92a79469218"
                .parse::<B256>()
                .unwrap()
        );
        let tx = SafeTx {
            to: Address::ZERO,
            value: U256::ZERO,
            data: Bytes::new(),
            operation: 0,
            safeTxGas: U256::ZERO,
            baseGas: U256::ZERO,
            gasPrice: U256::ZERO,
            gasToken: Address::ZERO,
            refundReceiver: Address::ZERO,
            nonce: U256::ZERO,
        };
        assert_eq!(
            tx.eip712_type_hash(),
            "0xbb8310d486368db6bd6f849402fdd73ad53d316b5a4b2644ad6efe0f941286d8"
                .parse::<B256>()
                .unwrap()
        );
        assert_eq!(
            domain(1, Address::ZERO).hash_struct(),
            keccak256(
                [
                    keccak256("EIP712Domain(uint256 chainId,address verifyingContract)").as_slice(),
                    U256::from(1u8).to_be_bytes::<32>().as_slice(),
                    [0u8; 32].as_slice()
                ]
                .concat()
            )
        );
    }

    /// The canonical addresses are CREATE2 deployments by the Safe singleton factory with salt 0
    /// of the npm artifacts' bytecode (hashes computed from @safe-global/safe-contracts@1.4.1).
    #[test]
    fn canonical_addresses_are_create2_of_the_npm_artifacts() {
        let sf = address!("914d7Fec6aaC8cd542e72Bca78B30650d45643d7");
        let cases = [
            (
                "596f87ec561ad5ea1c13253af5c91247a713253499b74a5d594537cae42eaaa9",
                SafeDeployment::CANONICAL_V1_4_1.factory,
            ),
            (
                "bdd9e3833a8bdf0f6b4312e07bc851afc298d53690a00a28cade5de8b6ac0f36",
                SafeDeployment::CANONICAL_V1_4_1.singleton,
            ),
            (
                "5a63128db658d8601220c014848acd6c27b855a0427f0181eb3ba8c25e2d3e95",
                SafeDeployment::CANONICAL_V1_4_1.fallback_handler,
            ),
            (
                "3555bd3ee95b1c6605c602740d71efaf200068e0395ccd701ac82ab8e42307bd",
                SafeDeployment::SAFE_L2_V1_4_1,
            ),
        ];
        for (code_hash, want) in cases {
            assert_eq!(
                sf.create2(B256::ZERO, code_hash.parse::<B256>().unwrap()),
                want
            );
        }
        assert_eq!(
            keccak256(proxy_creation_code()),
            "0x1856e0ee08399d74e0ea0b03adca210aeade6f748969ac023cdcb4dd62dcaf5f"
                .parse::<B256>()
                .unwrap()
        );
    }

    #[test]
    fn signatures_are_combined_in_ascending_owner_order() {
        let a = address!("00000000000000000000000000000000000000aa");
        let b = address!("00000000000000000000000000000000000000bb");
        let out = combine_signatures(vec![(b, [2u8; 65]), (a, [1u8; 65])]).unwrap();
        assert_eq!(out.len(), 130);
        assert_eq!((out[0], out[65]), (1, 2));
        assert!(combine_signatures(vec![(a, [1u8; 65]), (a, [2u8; 65])]).is_err());
    }

    #[test]
    fn owners_are_checked_like_setup_owners() {
        let a = address!("00000000000000000000000000000000000000aa");
        let b = address!("00000000000000000000000000000000000000bb");
        assert!(check_owners(&[a, b], 2).is_ok());
        assert!(check_owners(&[a, b], 3).is_err());
        assert!(check_owners(&[a, b], 0).is_err());
        assert!(check_owners(&[a, a], 1)
            .unwrap_err()
            .to_string()
            .contains("twice"));
        assert!(check_owners(&[Address::ZERO], 1).is_err());
        assert!(check_owners(&[], 1).is_err());
    }
}
