package sample

import (
	"bytes"
	"errors"
	"testing"
)

// A body over MaxBodyBytes is too large whatever it claims to be encoded in, not JSON cut short.
func TestDecodeBatchBoundsTheBodyForEveryEncoding(t *testing.T) {
	body := append([]byte(`{"version":1,"samples":[{"collected_at":"`), bytes.Repeat([]byte("x"), MaxBodyBytes)...)
	for _, enc := range []string{"", "identity", " Identity "} {
		if _, err := DecodeBatch(bytes.NewReader(body), enc); !errors.Is(err, ErrTooLarge) {
			t.Errorf("Content-Encoding %q, a body of %d bytes: %v, want ErrTooLarge", enc, len(body), err)
		}
	}
}
