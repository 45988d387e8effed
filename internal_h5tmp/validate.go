package cluster

import "fmt"

// maxIDLen bounds agent, node and master ids.
const maxIDLen = 128

// validateID checks that id is 1-128 characters of [A-Za-z0-9._-]; field
// names the request field in the error.
func validateID(field, id string) error {
	if id == "" {
		return fmt.Errorf("%w: %s is empty", ErrInvalid, field)
	}
	if len(id) > maxIDLen {
		return fmt.Errorf("%w: %s is %d characters long (at most %d)", ErrInvalid, field, len(id), maxIDLen)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-' {
			continue
		}
		return fmt.Errorf("%w: %s %q has a character outside [A-Za-z0-9._-] at byte %d", ErrInvalid, field, truncate(id, 64), i)
	}
	return nil
}

// truncate shortens s for error messages.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
