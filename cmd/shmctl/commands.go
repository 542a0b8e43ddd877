package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode"
	"unicode/utf8"

	"github.com/shmpar/shmpar/shm"
	"github.com/shmpar/shmpar/shmap"
)

// parse parses flags that may come before or after the positional arguments
// (shmctl create NAME -dtype float64 and shmctl create -dtype float64 NAME
// both work) and returns the positional arguments.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	fs.SetOutput(io.Discard)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func dirOption(dir string) []shm.Option {
	if dir == "" {
		return nil
	}
	return []shm.Option{shm.Dir(dir)}
}

// allowForeignFlag adds -allow-foreign to fs.
func allowForeignFlag(fs *flag.FlagSet) *bool {
	return fs.Bool("allow-foreign", false, "accept segments of other users or writable by group or others")
}

// openOptions returns the options for -dir and -allow-foreign.
func openOptions(dir string, allowForeign bool) []shm.Option {
	opts := dirOption(dir)
	if allowForeign {
		opts = append(opts, shm.AllowForeign())
	}
	return opts
}

func cmdCreate(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("create", flag.ContinueOnError)
	dtype := fs.String("dtype", "float64", "element type")
	shapeFlag := fs.String("shape", "", "comma-separated dimensions, e.g. 1000,10")
	fill := fs.String("fill", "", "initial value of every element (default zero)")
	dir := fs.String("dir", "", "directory (default $SHMPAR_DIR or /dev/shm)")
	persistent := fs.Bool("persistent", false, "mark the segment so that sweep keeps it")
	mode := fs.String("mode", "0600", "file mode, octal")
	pos, err := parse(fs, args)
	if err != nil {
		return fmt.Errorf("create: %w", err)
	}
	if len(pos) != 1 {
		return fmt.Errorf("create: want exactly one NAME, got %d", len(pos))
	}
	dt, err := shm.ParseDType(*dtype)
	if err != nil {
		return fmt.Errorf("create: %w", err)
	}
	shape, err := parseShape(*shapeFlag)
	if err != nil {
		return fmt.Errorf("create: %w", err)
	}
	perm, err := strconv.ParseUint(*mode, 8, 32)
	if err != nil || perm > 0o777 {
		return fmt.Errorf("create: -mode %q is not an octal file mode", *mode)
	}
	opts := append(dirOption(*dir), shm.Mode(os.FileMode(perm)))
	if *persistent {
		opts = append(opts, shm.Persistent())
	}
	seg, err := shm.Create(pos[0], shm.Meta{DType: dt, Shape: shape, Kind: shm.KindArray}, opts...)
	if err != nil {
		return err
	}
	defer seg.Close()
	if *fill != "" {
		if err := fillSegment(seg, *fill); err != nil {
			seg.Unlink()
			return fmt.Errorf("create: -fill: %w", err)
		}
	}
	fmt.Fprintln(out, quote(seg.Path()))
	return nil
}

func parseShape(s string) ([]int, error) {
	if s == "" {
		return nil, errors.New("-shape is required, e.g. -shape 1000 or -shape 1000,10")
	}
	var shape []int
	for _, f := range strings.Split(s, ",") {
		d, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("-shape %q: %q is not a positive dimension", s, f)
		}
		shape = append(shape, d)
	}
	return shape, nil
}

func cmdList(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("ls", flag.ContinueOnError)
	dir := fs.String("dir", "", "directory (default $SHMPAR_DIR or /dev/shm)")
	pos, err := parse(fs, args)
	if err != nil {
		return fmt.Errorf("ls: %w", err)
	}
	if len(pos) != 0 {
		return fmt.Errorf("ls: unexpected argument %q", pos[0])
	}
	infos, err := shm.List(dirOption(*dir)...)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tKIND\tDTYPE\tSHAPE\tBYTES\tCREATOR\tALIVE\tPERSISTENT\tPATH")
	for _, in := range infos {
		if in.Err != nil {
			fmt.Fprintf(tw, "%s\t?\t?\t?\t%d\t?\t?\t?\t%s (unreadable: %s)\n", quote(in.Name), in.Size, quote(in.Path), printable(in.Err.Error()))
			continue
		}
		m := in.Meta
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\n", quote(in.Name), m.Kind, m.DType, shapeString(m.Shape),
			in.Size, m.CreatorPID, yesNo(in.Alive), yesNo(m.Flags&shm.FlagPersistent != 0), quote(in.Path))
	}
	return tw.Flush()
}

func cmdInspect(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("inspect", flag.ContinueOnError)
	dir := fs.String("dir", "", "directory (default $SHMPAR_DIR or /dev/shm)")
	head := fs.Int("head", 10, "how many leading elements to print")
	foreign := allowForeignFlag(fs)
	pos, err := parse(fs, args)
	if err != nil {
		return fmt.Errorf("inspect: %w", err)
	}
	if len(pos) != 1 {
		return fmt.Errorf("inspect: want exactly one NAME, got %d", len(pos))
	}
	if *head < 0 {
		return fmt.Errorf("inspect: -head must not be negative")
	}
	seg, err := shm.Open(pos[0], openOptions(*dir, *foreign)...)
	if err != nil {
		return err
	}
	defer seg.Close()
	m := seg.Meta()
	fmt.Fprintf(out, "path:       %s\n", quote(seg.Path()))
	fmt.Fprintf(out, "kind:       %s\n", m.Kind)
	fmt.Fprintf(out, "dtype:      %s (%s)\n", m.DType, m.DType.Descr())
	fmt.Fprintf(out, "shape:      %s\n", shapeString(m.Shape))
	fmt.Fprintf(out, "data bytes: %d\n", m.DataBytes())
	fmt.Fprintf(out, "creator:    pid %d (start %d)\n", m.CreatorPID, m.CreatorStart)
	fmt.Fprintf(out, "created:    %s\n", m.Created.Format("2006-01-02 15:04:05.000 MST"))
	fmt.Fprintf(out, "persistent: %s\n", yesNo(m.Flags&shm.FlagPersistent != 0))
	if m.Kind == shm.KindMap {
		return printMap(out, seg)
	}
	return printStats(out, seg, *head)
}

// printMap prints what a map's header says and how many keys it holds; its
// bytes have no statistics worth printing.
func printMap(out io.Writer, seg *shm.Segment) error {
	info, err := shmap.Inspect(seg)
	if err != nil {
		return err
	}
	keys := fmt.Sprintf("%s (%d bytes)", info.KeyType, info.KeySize)
	if info.StringKeys {
		keys = fmt.Sprintf("%s (at most %d bytes)", info.KeyType, info.KeySize)
	}
	fmt.Fprintf(out, "map:        version %d, %d stripes\n", info.Version, info.Stripes)
	fmt.Fprintf(out, "keys:       %s\n", printable(keys))
	fmt.Fprintf(out, "values:     %s\n", printable(fmt.Sprintf("%s (%d bytes)", info.ValueType, info.ValueSize)))
	fmt.Fprintf(out, "capacity:   %d\n", info.Capacity)
	fmt.Fprintf(out, "len:        %d\n", info.Len)
	return nil
}

func cmdRemove(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("rm", flag.ContinueOnError)
	dir := fs.String("dir", "", "directory (default $SHMPAR_DIR or /dev/shm)")
	foreign := allowForeignFlag(fs)
	pos, err := parse(fs, args)
	if err != nil {
		return fmt.Errorf("rm: %w", err)
	}
	if len(pos) == 0 {
		return errors.New("rm: want at least one NAME")
	}
	var errs []error
	for _, name := range pos {
		// Refuse to remove files that are not shmpar segments.
		seg, err := shm.Open(name, openOptions(*dir, *foreign)...)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		err = seg.Unlink()
		seg.Close()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Fprintln(out, "removed", quote(seg.Path()))
	}
	return errors.Join(errs...)
}

func cmdSweep(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("sweep", flag.ContinueOnError)
	dir := fs.String("dir", "", "directory (default $SHMPAR_DIR or /dev/shm)")
	dry := fs.Bool("dry-run", false, "only list what would be removed")
	foreign := allowForeignFlag(fs)
	pos, err := parse(fs, args)
	if err != nil {
		return fmt.Errorf("sweep: %w", err)
	}
	if len(pos) != 0 {
		return fmt.Errorf("sweep: unexpected argument %q", pos[0])
	}
	opts := openOptions(*dir, *foreign)
	verb := "removed"
	if *dry {
		opts, verb = append(opts, shm.DryRun()), "would remove"
	}
	removed, err := shm.Sweep(opts...)
	for _, in := range removed {
		fmt.Fprintln(out, verb, quote(in.Path))
	}
	return err
}

func shapeString(shape []int) string {
	parts := make([]string, len(shape))
	for i, d := range shape {
		parts[i] = strconv.Itoa(d)
	}
	return "(" + strings.Join(parts, ",") + ")"
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// quote returns s as it is when it is made of printable characters other
// than space, '"' and '\', and as a Go string literal (strconv.Quote)
// otherwise. Names and paths in shmctl's output go through it: segment
// names are printable (shm.ValidateName), but a file made by another tool
// may hold a newline or a terminal escape, which printed raw could forge or
// hide a line. A quoted field starts with '"'; an unquoted one never does.
func quote(s string) string {
	if s == "" {
		return `""`
	}
	for _, r := range s {
		if r == ' ' || r == '"' || r == '\\' || r == utf8.RuneError || !unicode.IsPrint(r) {
			return strconv.Quote(s)
		}
	}
	return s
}

// printable returns free text (an error message) unchanged when every
// character is printable, and quoted otherwise.
func printable(s string) string {
	for _, r := range s {
		if r == utf8.RuneError || !unicode.IsPrint(r) {
			return strconv.Quote(s)
		}
	}
	return s
}
