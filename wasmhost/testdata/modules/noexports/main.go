// Module noexports has the version export and nothing else of the ABI.
package main

func main() {}

//go:wasmexport otlpgw_abi_version
func abiVersion() int32 { return 1 }
