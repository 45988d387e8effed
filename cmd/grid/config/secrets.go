package config

import (
	"fmt"
	"os"
	"strings"
)

// ReadSecretFile reads a secret (a token or key) from path for the option
// named opt: the file must exist, be a regular file, not be readable by
// others (mode o+r), and hold a non-empty value; surrounding space is
// trimmed.
func ReadSecretFile(opt, path string) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("--%s %s: %w", opt, path, err)
	}
	if !st.Mode().IsRegular() {
		return "", fmt.Errorf("--%s %s: not a regular file", opt, path)
	}
	if st.Mode().Perm()&0o004 != 0 {
		return "", fmt.Errorf("--%s %s: the file is world-readable (mode %#o); chmod o-rwx it", opt, path, st.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("--%s %s: %w", opt, path, err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("--%s %s: the file is empty", opt, path)
	}
	return s, nil
}
