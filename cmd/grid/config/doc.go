// Package config reads Grid's configuration files and resolves addresses
// for `grid master` and `grid agent`.
//
// Files are HCL (hashicorp/hcl/v2) or JSON. `--config` may repeat and may
// name a directory, whose *.hcl and *.json files are read in lexical order
// (as Nomad and Consul do); later files win. Every key is a flag name with
// `_` for `-` (`data_dir`, `bootstrap_expect`, `join = [...]`); a block
// groups keys by prefix (`tls { ca = "..." }` is `tls_ca`). The schema is
// built from the command's flags, so any flag — including ones added later
// — can be set in a file. Bad input (an unknown key, a wrong type, a
// duplicate key or block) is an error naming file, line and key.
//
// Secrets: ReadSecretFile refuses a missing or world-readable file.
// Addresses: ParseTemplate resolves go-sockaddr templates
// (`{{ GetPrivateIP }}`) and CheckAdvertise refuses a loopback advertise
// address when peers are not on loopback.
package config
