package rpc

import "encoding/json"

// Gossip tags: every member (master or agent) publishes a JSON object of
// strings as its memberlist node meta. These are its keys and role values;
// EncodeTags and DecodeTags are the one encoding both sides use.
const (
	TagRole            = "role"
	TagID              = "id"
	TagRaftAddr        = "raft_addr"
	TagGRPCAddr        = "grpc_addr"
	TagHTTPAddr        = "http_addr"
	TagClusterID       = "cluster_id"
	TagBootstrapExpect = "bootstrap_expect"
	// TagStarted is the process start (unix nanos): a restarted master looks
	// different from the one an operator removed.
	TagStarted = "started"
	// TagIncarnation names a master's data dir (made when it is created):
	// a master an operator removed is not re-added with the same one.
	TagIncarnation = "incarnation"
	// TagVersion is a master's Grid version: the upgrade-safety gate uses
	// only the Raft command types every voter's version knows.
	TagVersion = "version"

	RoleMaster = "master"
	RoleAgent  = "agent"
)

// EncodeTags is a member's node meta.
func EncodeTags(tags map[string]string) ([]byte, error) { return json.Marshal(tags) }

// DecodeTags reads a member's node meta; meta that is empty or not a JSON
// object of strings gives no tags.
func DecodeTags(meta []byte) map[string]string {
	tags := map[string]string{}
	if len(meta) > 0 {
		if err := json.Unmarshal(meta, &tags); err != nil {
			return map[string]string{}
		}
	}
	return tags
}
