//go:build !amd64 || race

package queue

import "sync/atomic"

// storeRel stores v in *p with (at least) release order; see store_amd64.go.
func storeRel(p *atomic.Uint64, v uint64) { p.Store(v) }
