// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.20;

/// Forwards the ETH it is sent to other addresses with internal calls and emits no event, so the
/// payments are visible only in call traces (`debug_traceTransaction` with the call tracer), not
/// in logs or in the transaction's own `to`/`value`. A tracing exercise for the custos lab.
contract Forwarder {
    /// Pays `amounts[i]` to `to[i]`; the amounts must add up to the value sent.
    function split(address payable[] calldata to, uint256[] calldata amounts) external payable {
        require(to.length == amounts.length, "length");
        uint256 total = 0;
        for (uint256 i = 0; i < to.length; i++) {
            total += amounts[i];
            (bool ok,) = to[i].call{value: amounts[i]}("");
            require(ok, "payment failed");
        }
        require(total == msg.value, "amounts do not add up to the value");
    }

    /// Pays the whole value to `to` through a second, nested internal call (hop inside the tx).
    function forward(address payable to) external payable {
        this.relay{value: msg.value}(to);
    }

    /// The nested hop of `forward`.
    function relay(address payable to) external payable {
        require(msg.sender == address(this), "only from forward");
        (bool ok,) = to.call{value: msg.value}("");
        require(ok, "payment failed");
    }
}
