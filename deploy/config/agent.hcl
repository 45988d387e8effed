# /etc/grid/agent.hcl: an agent on a storage machine. Start with:
# grid agent --config /etc/grid/agent.hcl. Every key is a `grid agent` flag
# with _ for -; flags and GRID_AGENT_* variables override this file.

data_dir = "/var/lib/grid/agent"

# Masters dial the advertise address, and storage-node endpoints use its
# host. Without advertise_addr the agent advertises its private IP.
grpc_addr      = "0.0.0.0:8001"
advertise_addr = "{{ GetPrivateIP }}:8001"

masters = ["10.0.0.11:7000", "10.0.0.12:7000", "10.0.0.13:7000"]

max_nodes  = 5
port_range = "50051-50150"

# The masters' token and gossip key, from files only the grid user reads.
api_token_file = "/etc/grid/api-token"
encrypt_file   = "/etc/grid/gossip-key"

# tls {
#   ca   = "/etc/grid/tls/ca.pem"
#   cert = "/etc/grid/tls/agent.pem"
#   key  = "/etc/grid/tls/agent-key.pem"
# }

log_level = "info"
