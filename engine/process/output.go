package process

import (
	"bytes"
	"io"
	"sync"
)

// prefixWriter writes each complete line with a prefix; flush writes a
// last unterminated line.
type prefixWriter struct {
	mu     *sync.Mutex // shared with the process's other stream
	w      io.Writer
	prefix string
	part   []byte // an unterminated line
	out    []byte
}

// maxPartLine bounds an unterminated line kept back; a longer one is
// written as a line of its own.
const maxPartLine = 64 << 10

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(b)
	p.out = p.out[:0]
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			p.part = append(p.part, b...)
			if len(p.part) >= maxPartLine {
				p.out = append(append(append(p.out, p.prefix...), p.part...), '\n')
				p.part = p.part[:0]
			}
			break
		}
		p.out = append(append(append(p.out, p.prefix...), p.part...), b[:i+1]...)
		p.part = p.part[:0]
		b = b[i+1:]
	}
	if len(p.out) > 0 {
		_, _ = p.w.Write(p.out) // a failing writer must not block the process
	}
	return n, nil
}

func (p *prefixWriter) flush() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.part) > 0 {
		_, _ = p.w.Write(append(append([]byte(p.prefix), p.part...), '\n'))
		p.part = nil
	}
}

// lockedWriter serializes the writes of a process's two streams.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, _ = l.w.Write(b)
	return len(b), nil
}
