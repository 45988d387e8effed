# /etc/grid/master.hcl: one of three masters (the same file on each; the id
# defaults to the host name). Start with: grid master --config /etc/grid/master.hcl
# (or --config /etc/grid/master.d to merge a directory in lexical order).
# Every key is a `grid master` flag with _ for -; flags and GRID_MASTER_*
# variables override this file. `grid master --help` lists them all.

data_dir = "/var/lib/grid/master"

# Bind on the private IP; others dial the same address (go-sockaddr
# templates, as in Consul and Nomad: {{ GetInterfaceIP "eth0" }} also works).
grpc_addr   = "{{ GetPrivateIP }}:7000"
raft_addr   = "{{ GetPrivateIP }}:7001"
gossip_addr = "{{ GetPrivateIP }}:7946"
http_addr   = "0.0.0.0:9000"

# Form the cluster once the three masters see each other; a later master
# only joins (bootstrap_expect = 0).
bootstrap_expect = 3
join = ["10.0.0.11:7946", "10.0.0.12:7946", "10.0.0.13:7946"]

# Secrets come from files readable only by the grid user (chmod 600).
api_token_file  = "/etc/grid/api-token"
read_token_file = "/etc/grid/read-token"
encrypt_file    = "/etc/grid/gossip-key"

# Mutual TLS for gRPC, Raft and HTTPS (grid tls create-ca / create-cert).
# tls {
#   ca   = "/etc/grid/tls/ca.pem"
#   cert = "/etc/grid/tls/master.pem"
#   key  = "/etc/grid/tls/master-key.pem"
# }

log_level = "info" # SIGHUP (systemctl reload grid-master) re-reads it
