package engine

import (
	"bytes"
	"fmt"
)

// Arguments cross to worker processes encoded with encoding/gob (package
// engine/internal/codec), once per job, and not even that when they did not
// change (see argsCache). A shared array or value crosses as its path: its
// type implements gob.GobEncoder and gob.GobDecoder, the decoder attaching
// the segment in the worker (shm.Attach). This package does not import
// those types.

// encodeArgs puts the gob encoding of v (of kernel k's argument type) in
// buf.
func encodeArgs(k *kernel, v any, buf *bytes.Buffer) error {
	if err := k.args.Encode(v, buf); err != nil {
		return fmt.Errorf("engine: kernel %q: arguments (%T): %w: %v; arguments cross to worker processes with encoding/gob", k.name, v, ErrArgsEncode, err)
	}
	return nil
}

// decodeArgs decodes bytes written by encodeArgs into a value of k's
// argument type.
func decodeArgs(k *kernel, b []byte) (any, error) {
	v, err := k.args.Decode(b)
	if err != nil {
		return nil, fmt.Errorf("kernel %q: arguments: %w", k.name, err)
	}
	return v, nil
}

// argsCache remembers, per kernel, the last arguments a team encoded, so a
// job whose arguments did not change costs no gob work in the coordinator
// (stable types compared with ==) nor in the workers (same blob id).
type argsCache struct {
	val   any    // last arguments (only for stable types)
	valOK bool   // val is set
	enc   []byte // their encoding
	id    uint64 // blob id of enc, unique within the team
}
