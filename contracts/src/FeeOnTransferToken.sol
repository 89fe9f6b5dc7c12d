// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.20;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// An ERC-20 that keeps a fee on every transfer between two accounts (not on mint or burn):
/// the recipient receives `value - value * feeBps / 10000`, rounded so the fee rounds down, and the
/// fee goes to `feeCollector`. A sweep must check what the destination really received.
contract FeeOnTransferToken is ERC20 {
    uint16 public immutable feeBps;
    address public immutable feeCollector;

    constructor(string memory name_, string memory symbol_, uint256 supply, uint16 feeBps_, address feeCollector_)
        ERC20(name_, symbol_)
    {
        require(feeBps_ <= 10000, "fee above 100%");
        feeBps = feeBps_;
        feeCollector = feeCollector_;
        _mint(msg.sender, supply);
    }

    function _update(address from, address to, uint256 value) internal override {
        if (from == address(0) || to == address(0) || from == feeCollector || to == feeCollector) {
            super._update(from, to, value);
            return;
        }
        uint256 fee = (value * feeBps) / 10000;
        super._update(from, feeCollector, fee);
        super._update(from, to, value - fee);
    }
}
