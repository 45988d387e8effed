package agent

import (
	"fmt"

	"github.com/gridctl/grid/rpc/security"
)

// masterTokenOf is the token masters must present (their --agent-token):
// masterToken when set, else apiToken.
func masterTokenOf(apiToken, masterToken string) string {
	if masterToken != "" {
		return masterToken
	}
	return apiToken
}

// Reload applies renewed credentials without a restart (SIGHUP): the TLS
// certificate and key are re-read from the same files (every later
// handshake, in and out, presents the new certificate), and apiToken and
// masterToken replace the tokens of Config. Nothing changes on error.
func (a *Agent) Reload(apiToken, masterToken string) error {
	if err := security.ValidateTokens(apiToken, ""); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	if err := security.ValidateTokens(masterToken, ""); err != nil {
		return fmt.Errorf("%w: master token: %w", ErrInvalidConfig, err)
	}
	if a.cfg.TLS.Enabled() {
		if err := security.ReloadTLS(a.cfg.TLS); err != nil {
			return fmt.Errorf("%w: reload TLS: %w", ErrInvalidConfig, err)
		}
	}
	if err := a.auth.SetTokens(masterTokenOf(apiToken, masterToken), ""); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	a.token.Set(apiToken)
	a.logger.Info("reloaded credentials", "tls", a.cfg.TLS.Enabled(), "token_set", apiToken != "")
	return nil
}
