// Package security owns Grid's security material and the checks built on it:
// TLS files and the TLS configs and gRPC transport credentials made from them
// (tls.go), the cluster CA and the member certificates it issues (tls_certs.go,
// behind `grid tls create-ca|create-cert`), API bearer tokens and the gRPC auth
// interceptors with the list of read-only methods they apply (auth.go), ACL
// capabilities and the Authorizer (acl.go, authorizer.go), certificate
// roles and their reload on SIGHUP (roles.go), gossip encryption keys
// (`grid keygen`, `--encrypt`) and the gossip keyring file and operations
// that masters and agents share (keyring.go, `grid operator keyring`).
//
// The wire contract itself (messages, services, method names, metadata keys)
// stays in package rpc; security only reads it.
package security
