package config

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
)

// Hash identifies the configuration's values: a hex SHA-256 of a canonical
// encoding (JSON with struct fields in declaration order and map keys
// sorted). Two configs with the same values hash the same, however their
// files were laid out or split, so reload reporting can tell a real change
// from a rewrite.
func (c *Config) Hash() string {
	b, err := json.Marshal(c)
	if err != nil {
		// Only values JSON cannot hold (NaN, maps with non-string keys in a
		// filter's free-form config) get here; %#v is deterministic too.
		b = fmt.Appendf(nil, "%#v", c)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
