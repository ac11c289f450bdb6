// Package testusd holds TestUSD, a minimal ERC-20 with 6 decimals (like USDC
// and USDT) for tests and devstack on go-ethereum's simulated backend: its
// Solidity source, ABI and creation bytecode, compiled once with solc 0.8.28
// (npm package solc, optimizer on, 200 runs, EVM paris), so that no test
// needs a compiler. Constructor: (string name, string symbol). Anyone may
// mint(to, value). Production code never deploys it.
package testusd

import (
	_ "embed"
	"strings"
)

// Source is the Solidity source TestUSD.sol.
//
//go:embed TestUSD.sol
var Source string

//go:embed TestUSD.abi
var abiJSON string

//go:embed TestUSD.bin
var binHex string

// ABI is the contract's ABI as JSON.
func ABI() string { return strings.TrimSpace(abiJSON) }

// Bytecode is the creation bytecode as hex, without 0x.
func Bytecode() string { return strings.TrimSpace(binHex) }

// Decimals is what the contract's decimals() returns.
const Decimals = 6
