package api

import (
	"context"
	"net/http"
	"time"

	"github.com/gridctl/grid/rpc"
	"github.com/gridctl/grid/rpc/security"
)

// ACLBackend is what the ACL endpoints need; a Backend that does not
// implement it answers them 404 (cluster.Backend does).
type ACLBackend interface {
	ACLBootstrap(ctx context.Context) (*rpc.ACLTokenSecret, error)
	ACLTokenCreate(ctx context.Context, in *rpc.ACLTokenCreateRequest) (*rpc.ACLTokenSecret, error)
	ACLTokenList(ctx context.Context) (*rpc.ACLTokens, error)
	ACLTokenRevoke(ctx context.Context, in *rpc.ACLAccessor) error
	ACLPolicyUpsert(ctx context.Context, in *rpc.ACLPolicy) error
	ACLPolicyList(ctx context.Context) (*rpc.ACLPolicies, error)
	ACLPolicyDelete(ctx context.Context, in *rpc.ACLPolicyName) error
}

// registerACLRoutes wires /api/grid/acl/.
func (s *Server) registerACLRoutes() {
	s.route(http.MethodPost, "/api/grid/acl/bootstrap", s.guard("", s.aclBootstrap))
	s.route("", "/api/grid/acl/tokens", s.aclTokens)
	s.route(http.MethodDelete, "/api/grid/acl/tokens/{accessor_id}", s.guard(security.CapACLWrite, s.aclTokenRevoke))
	s.route("", "/api/grid/acl/policies", s.aclPolicies)
	s.route(http.MethodDelete, "/api/grid/acl/policies/{name}", s.guard(security.CapACLWrite, s.aclPolicyDelete))
}

// aclBackend is the backend's ACL side, or a 404.
func (s *Server) aclBackend() (ACLBackend, error) {
	b, ok := s.backend.(ACLBackend)
	if !ok {
		return nil, routeError(http.StatusNotFound, "ACLs are not served here")
	}
	return b, nil
}

// tokenView is a token's JSON form.
func tokenView(t *rpc.ACLTokenInfo) map[string]any {
	v := map[string]any{"accessor_id": t.GetAccessorId(), "name": t.GetName(), "policies": t.GetPolicies(),
		"agent_id": t.GetAgentId(), "create_time": time.UnixMicro(t.GetCreateTime()).UTC().Format(time.RFC3339)}
	if t.GetExpireTime() != 0 {
		v["expire_time"] = time.UnixMicro(t.GetExpireTime()).UTC().Format(time.RFC3339)
	}
	return v
}

func secretView(t *rpc.ACLTokenSecret) map[string]any {
	v := tokenView(t.GetToken())
	v["secret_id"] = t.GetSecretId()
	v["success"] = true
	return v
}

func (s *Server) aclBootstrap(w http.ResponseWriter, r *http.Request) error {
	b, err := s.aclBackend()
	if err != nil {
		return err
	}
	var body struct{}
	if err := s.decodeJSON(w, r, &body, true); err != nil {
		return err
	}
	ctx, cancel := s.backendContext(r)
	defer cancel()
	out, err := b.ACLBootstrap(ctx)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, secretView(out))
	return nil
}

// aclTokens: GET lists, POST creates.
func (s *Server) aclTokens(w http.ResponseWriter, r *http.Request) error {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		return s.guard(security.CapACLRead, s.aclTokenList)(w, r)
	case http.MethodPost:
		return s.guard(security.CapACLWrite, s.aclTokenCreate)(w, r)
	}
	w.Header().Set("Allow", "GET, POST")
	return routeError(http.StatusMethodNotAllowed, "method %s not allowed on %s", r.Method, r.URL.Path)
}

func (s *Server) aclTokenList(w http.ResponseWriter, r *http.Request) error {
	b, err := s.aclBackend()
	if err != nil {
		return err
	}
	ctx, cancel := s.backendContext(r)
	defer cancel()
	out, err := b.ACLTokenList(ctx)
	if err != nil {
		return err
	}
	views := make([]map[string]any, 0, len(out.GetTokens()))
	for _, t := range out.GetTokens() {
		views = append(views, tokenView(t))
	}
	writeJSON(w, http.StatusOK, map[string]any{"tokens": views})
	return nil
}

// tokenCreateBody is POST /api/grid/acl/tokens.
type tokenCreateBody struct {
	Policies []string `json:"policies"`
	AgentID  string   `json:"agent_id"`
	Name     string   `json:"name"`
	TTL      string   `json:"ttl"`
}

func (s *Server) aclTokenCreate(w http.ResponseWriter, r *http.Request) error {
	b, err := s.aclBackend()
	if err != nil {
		return err
	}
	var body tokenCreateBody
	if err := s.decodeJSON(w, r, &body, false); err != nil {
		return err
	}
	var ttl time.Duration
	if body.TTL != "" {
		if ttl, err = time.ParseDuration(body.TTL); err != nil || ttl < time.Second {
			return invalidf("ttl %q: want a duration of at least 1s such as 24h", body.TTL)
		}
	}
	ctx, cancel := s.backendContext(r)
	defer cancel()
	out, err := b.ACLTokenCreate(ctx, &rpc.ACLTokenCreateRequest{Policies: body.Policies, AgentId: body.AgentID,
		Name: body.Name, TtlSeconds: int64(ttl / time.Second)})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, secretView(out))
	return nil
}

func (s *Server) aclTokenRevoke(w http.ResponseWriter, r *http.Request) error {
	b, err := s.aclBackend()
	if err != nil {
		return err
	}
	ctx, cancel := s.backendContext(r)
	defer cancel()
	if err := b.ACLTokenRevoke(ctx, &rpc.ACLAccessor{AccessorId: r.PathValue("accessor_id")}); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"success": true, "error": ""})
	return nil
}

// aclPolicies: GET lists, POST writes.
func (s *Server) aclPolicies(w http.ResponseWriter, r *http.Request) error {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		return s.guard(security.CapACLRead, s.aclPolicyList)(w, r)
	case http.MethodPost:
		return s.guard(security.CapACLWrite, s.aclPolicyUpsert)(w, r)
	}
	w.Header().Set("Allow", "GET, POST")
	return routeError(http.StatusMethodNotAllowed, "method %s not allowed on %s", r.Method, r.URL.Path)
}

func (s *Server) aclPolicyList(w http.ResponseWriter, r *http.Request) error {
	b, err := s.aclBackend()
	if err != nil {
		return err
	}
	ctx, cancel := s.backendContext(r)
	defer cancel()
	out, err := b.ACLPolicyList(ctx)
	if err != nil {
		return err
	}
	views := make([]map[string]any, 0, len(out.GetPolicies()))
	for _, p := range out.GetPolicies() {
		views = append(views, map[string]any{"name": p.GetName(), "capabilities": p.GetCapabilities(), "description": p.GetDescription()})
	}
	writeJSON(w, http.StatusOK, map[string]any{"policies": views})
	return nil
}

func (s *Server) aclPolicyUpsert(w http.ResponseWriter, r *http.Request) error {
	b, err := s.aclBackend()
	if err != nil {
		return err
	}
	var body struct {
		Name         string   `json:"name"`
		Capabilities []string `json:"capabilities"`
		Description  string   `json:"description"`
	}
	if err := s.decodeJSON(w, r, &body, false); err != nil {
		return err
	}
	ctx, cancel := s.backendContext(r)
	defer cancel()
	if err := b.ACLPolicyUpsert(ctx, &rpc.ACLPolicy{Name: body.Name, Capabilities: body.Capabilities, Description: body.Description}); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"success": true, "error": ""})
	return nil
}

func (s *Server) aclPolicyDelete(w http.ResponseWriter, r *http.Request) error {
	b, err := s.aclBackend()
	if err != nil {
		return err
	}
	ctx, cancel := s.backendContext(r)
	defer cancel()
	if err := b.ACLPolicyDelete(ctx, &rpc.ACLPolicyName{Name: r.PathValue("name")}); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"success": true, "error": ""})
	return nil
}

// uiConfig tells the dashboard whether to show the "unprotected" banner.
func (s *Server) uiConfig(w http.ResponseWriter, _ *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]any{"insecure": s.cfg.Insecure})
	return nil
}
