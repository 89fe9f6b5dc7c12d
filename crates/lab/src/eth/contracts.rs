//! The contracts the lab deploys: creation bytecode from `contracts/build/contracts.json`
//! (built by `scripts/build-contracts.sh` from `contracts/src/*.sol` with solc-js, and the Safe
//! v1.4.1 artifacts of npm `@safe-global/safe-contracts`), and the ABI of the calls it makes.

use alloy_primitives::Bytes;
use serde::Deserialize;

use super::EthError;

const BUILD: &str = include_str!("../../../../contracts/build/contracts.json");

#[derive(Debug, Deserialize)]
struct Build {
    contracts: std::collections::BTreeMap<String, Built>,
}

#[derive(Debug, Deserialize)]
struct Built {
    bytecode: String,
}

/// Creation bytecode of `name` (LabToken, UsdtStyleToken, FeeOnTransferToken, Forwarder, Safe,
/// SafeL2, SafeProxyFactory, SafeProxy, CompatibilityFallbackHandler).
pub fn creation_code(name: &str) -> Result<Bytes, EthError> {
    let bad = |detail: String| EthError::Answer {
        method: "contracts/build/contracts.json".into(),
        detail,
    };
    let build: Build = serde_json::from_str(BUILD).map_err(|e| bad(e.to_string()))?;
    let c = build
        .contracts
        .get(name)
        .ok_or_else(|| bad(format!("no contract {name}")))?;
    let hex_text = c.bytecode.strip_prefix("0x").unwrap_or(&c.bytecode);
    hex::decode(hex_text)
        .map(Bytes::from)
        .map_err(|e| bad(format!("{name} bytecode: {e}")))
}

alloy_sol_types::sol! {
    /// The part of ERC-20 the lab calls (`transfer`'s bool is not decoded: USDT returns none).
    #[derive(Debug)]
    interface IErc20 {
        function transfer(address to, uint256 value) external;
        function balanceOf(address owner) external view returns (uint256);
        event Transfer(address indexed from, address indexed to, uint256 value);
    }

    /// `contracts/src/Forwarder.sol`.
    #[derive(Debug)]
    interface IForwarder {
        function split(address[] to, uint256[] amounts) external payable;
        function forward(address to) external payable;
    }

    /// Safe v1.4.1 `setup` (the proxy's initializer).
    #[derive(Debug)]
    interface ISafe {
        function setup(address[] owners, uint256 threshold, address to, bytes data, address fallbackHandler, address paymentToken, uint256 payment, address paymentReceiver) external;
        function getOwners() external view returns (address[]);
        function getThreshold() external view returns (uint256);
    }

    /// Safe v1.4.1 `SafeProxyFactory`.
    #[derive(Debug)]
    interface ISafeProxyFactory {
        function createProxyWithNonce(address singleton, bytes initializer, uint256 saltNonce) external returns (address proxy);
        event ProxyCreation(address indexed proxy, address singleton);
    }
}
