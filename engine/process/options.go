package process

import "io"

// Option changes how Start starts a process.
type Option func(*config)

type config struct {
	name           string
	prefix         bool
	env            []string
	stdout, stderr io.Writer
}

// Name names the process (Process.Name, the "[name] " output prefix, the
// process attribute of its log records, engine.ProcessName there). The
// default is the function's name, a dash and a number counting this
// program's Start calls, such as "fetch-3".
func Name(name string) Option { return func(c *config) { c.name = name } }

// PrefixOutput makes each line the process writes to its stdout or stderr
// appear on the parent's (or on the Stdout and Stderr writers) prefixed with
// "[name] ". Without it the output passes through unchanged.
func PrefixOutput() Option { return func(c *config) { c.prefix = true } }

// Env adds "KEY=value" entries to the process's environment, which is
// otherwise this process's.
func Env(kv ...string) Option { return func(c *config) { c.env = append(c.env, kv...) } }

// Stdout sends the process's standard output to w instead of this
// process's os.Stdout; nil discards it. w receives one Write at a time from
// a Process.
func Stdout(w io.Writer) Option { return func(c *config) { c.stdout = w } }

// Stderr sends the process's standard error (its log records included) to
// w instead of this process's os.Stderr; nil discards it. w receives one
// Write at a time from a Process.
func Stderr(w io.Writer) Option { return func(c *config) { c.stderr = w } }
